// For `icelab open … --run join.mjs`: what a person does on each page, click "join".
export default async (page) => {
  await page.click('#join');
};
