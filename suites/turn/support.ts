import * as allure from 'allure-js-commons';
import { externalTarget, labTarget, type TurnTarget } from '../../lab/turn/target.ts';
import { suiteEnv } from '../support/fixture.ts';

let target: Promise<TurnTarget> | null = null;

/** The server under test: ICELAB_TURN_URL's (no lab is started for it), else the suite lab's coturn. */
export function turnTarget(): Promise<TurnTarget> {
  target ??= (async () => externalTarget() ?? labTarget((await suiteEnv()).lab))();
  return target;
}

/** Allure labels every TURN test carries; returns the target. */
export async function turnTest(suite: string): Promise<TurnTarget> {
  await allure.parentSuite('turn');
  await allure.suite(suite);
  const t = await turnTarget();
  await allure.parameter('TURN server', t.url);
  return t;
}

export async function attachText(name: string, text: string): Promise<void> {
  await allure.attachment(name, text, 'text/plain');
}
