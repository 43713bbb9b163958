import type { StartedLab } from '../lab.ts';
import { LabError } from '../topology/errors.ts';
import { labHostname, type Topology } from '../topology/topology.ts';

/** A service runs in a lab host of its own, named after it: host name → service name. */
export const labServices = (lab: Pick<StartedLab, 'topology'>): Map<string, string> => new Map(lab.topology.services.map((s) => [s.name, s.name]));

/** Every name and address a lab page can reach: services' and TURN servers' names, every lab host's and router's address. */
export function labAddresses(t: Topology): Set<string> {
  return new Set([
    ...t.services.flatMap((s) => [s.hostname, s.publicIp, s.ip]),
    ...t.turn.flatMap((x) => [labHostname(x.name), ...x.ips]),
    ...t.hosts.map((h) => h.ip),
    ...t.routers.map((r) => r.wanIp),
  ]);
}

/**
 * A page in the lab has no route out: a URL must name a lab service (or a lab address). Says so
 * before a browser waits for a name it cannot resolve.
 */
export function checkLabUrl(lab: Pick<StartedLab, 'topology'>, url: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new LabError('ERR_APP_URL', `"${url}" is not a URL`, { hint: 'give a full URL, e.g. https://web.lab.test/room/{peer}' });
  }
  if (!['http:', 'https:'].includes(u.protocol)) throw new LabError('ERR_APP_URL', `${url}: only http and https pages can be opened in the lab (got ${u.protocol})`, { hint: 'serve the page from a service: https://<service>.lab.test/…' });
  if (labAddresses(lab.topology).has(u.hostname)) return u;
  const names = lab.topology.services.map((s) => s.hostname);
  throw new LabError('ERR_APP_URL_NOT_IN_LAB', `${url}: "${u.hostname}" is not a lab name; lab pages have no route out of the lab`, {
    hint: names.length
      ? `use a service's name: ${names.join(', ')} (e.g. https://${names[0]}/…)`
      : 'add the app\'s server to the topology under "services" (command, image, or forward for a dev server on this machine\'s loopback) and open https://<name>.lab.test/…',
    context: { url, host: u.hostname },
  });
}
