// For `icelab open … --run in-call.mjs`: wait, as a person watching would, until the page says "in call".
// (PeerJS's feature probe, a peer connection made and closed as the script loads, is not the call.)
export default async (page) => {
  await page.locator('#status', { hasText: 'in call' }).waitFor({ timeout: 30_000 });
};
