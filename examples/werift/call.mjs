// For `icelab open … --run call.mjs`: click "call the bot".
export default async (page) => {
  await page.click('#call');
};
