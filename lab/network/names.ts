/** Everything a lab creates carries this prefix: namespaces, temp dirs, state dirs. */
export const PREFIX = 'icelab';
export const NETNS_DIR = '/run/netns';
/** Lab state lives on tmpfs: a reboot forgets it along with the namespaces. */
export const STATE_ROOT = `/run/${PREFIX}`;

export const nsName = (labId: string, node: string) => `${PREFIX}-${labId}-${node}`;

/** Lab ids and node names both exclude "-"-free ambiguity by having the id first and no "-" in it. */
export const LAB_ID = /^[a-z0-9]{1,16}$/;

export function labIdOfNamespace(ns: string): string | null {
  const m = /^icelab-([a-z0-9]{1,16})-/.exec(ns);
  return m ? m[1]! : null;
}
