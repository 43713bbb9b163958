import * as allure from 'allure-js-commons';
import { gate, suiteEngines } from '../support/fixture.ts';
import { API_PAGES, openApi, runCheck } from './api-page.ts';

/**
 * RTCPeerConnection configuration validation: the exception each engine throws (or 'ok') against
 * the WebRTC spec (w3c.github.io/webrtc-pc, "validate an ICE server", "set a configuration",
 * generateCertificate) and WebIDL (enum and [EnforceRange] conversions throw TypeError).
 */
interface ConfigCase {
  id: string;
  title: string;
  /** A check of the "config" group in page-kit.js; "construct" takes `config`. */
  check: string;
  config?: unknown;
  spec: string;
  why: string;
}

const TURN = 'turn:198.18.0.10:3478';
const construct = (id: string, title: string, config: unknown, spec: string, why: string): ConfigCase => ({ id, title, check: 'construct', config, spec, why });

export const CONFIG_CASES: readonly ConfigCase[] = [
  construct('url-empty', 'empty ICE server URL', { iceServers: [{ urls: '' }] }, 'SyntaxError', 'validate an ICE server: the URL does not parse'),
  construct('urls-empty-list', 'empty urls list', { iceServers: [{ urls: [] }] }, 'SyntaxError', 'validate an ICE server: urls is empty'),
  construct('url-unknown-scheme', 'unknown scheme bogus:x', { iceServers: [{ urls: 'bogus:x' }] }, 'SyntaxError', 'scheme is none of stun, stuns, turn, turns'),
  construct('url-http', 'http URL', { iceServers: [{ urls: 'http://example.com' }] }, 'SyntaxError', 'scheme is none of stun, stuns, turn, turns'),
  construct('url-relative', 'relative URL', { iceServers: [{ urls: 'relative-url' }] }, 'SyntaxError', 'the URL does not parse'),
  construct('url-stun-query', 'STUN URL with a query', { iceServers: [{ urls: 'stun:198.18.0.10:3478?transport=udp' }] }, 'SyntaxError', 'scheme stun and the query is non-null (RFC 7064 has no query)'),
  construct('url-fragment', 'URL with a fragment', { iceServers: [{ urls: 'stun:example.net#foo' }] }, 'SyntaxError', "parsedURL's fragment is non-null"),
  construct('url-bad-port', 'port 65536', { iceServers: [{ urls: 'stun:example.net:65536' }] }, 'SyntaxError', 'host and port do not parse'),
  construct('url-turn-bad-transport', 'TURN URL with transport=sctp', { iceServers: [{ urls: `${TURN}?transport=sctp`, username: 'u', credential: 'c' }] }, 'SyntaxError', 'the transport value is neither udp nor tcp'),
  construct('url-stuns', 'stuns: URL (STUN over TLS)', { iceServers: [{ urls: 'stuns:example.net' }] }, 'NotSupportedError', 'a scheme the user agent does not implement (no engine here implements stuns)'),
  construct('turn-no-credentials', 'TURN without username and credential', { iceServers: [{ urls: TURN }] }, 'InvalidAccessError', 'turn/turns and username or credential does not exist'),
  construct('turn-username-only', 'TURN with a username only', { iceServers: [{ urls: TURN, username: 'u' }] }, 'InvalidAccessError', 'turn/turns and credential does not exist'),
  construct('turns-no-credentials', 'TURNS without credentials', { iceServers: [{ urls: 'turns:turn.lab.test:443?transport=tcp' }] }, 'InvalidAccessError', 'turn/turns and username or credential does not exist'),
  construct('turn-empty-credentials', 'TURN with empty-string username and credential', { iceServers: [{ urls: TURN, username: '', credential: '' }] }, 'ok', 'empty strings exist: accepted'),
  construct('ice-servers-null', 'iceServers: null', { iceServers: null }, 'TypeError', 'WebIDL: null is not a sequence'),
  construct('ice-transport-policy-bogus', "iceTransportPolicy 'bogus'", { iceTransportPolicy: 'bogus' }, 'TypeError', 'WebIDL: not an RTCIceTransportPolicy value'),
  construct('ice-transport-policy-none', "iceTransportPolicy 'none' (removed from the spec)", { iceTransportPolicy: 'none' }, 'TypeError', "WebIDL: 'none' is no longer an RTCIceTransportPolicy value"),
  construct('bundle-policy-bogus', "bundlePolicy 'bogus'", { bundlePolicy: 'bogus' }, 'TypeError', 'WebIDL: not an RTCBundlePolicy value'),
  construct('candidate-pool-256', 'iceCandidatePoolSize 256', { iceCandidatePoolSize: 256 }, 'TypeError', 'WebIDL: [EnforceRange] octet out of range'),
  { id: 'set-configuration-bundle-change', title: 'setConfiguration changing bundlePolicy', check: 'setConfigurationBundleChange', spec: 'InvalidModificationError', why: 'set a configuration: bundlePolicy differs from the current one' },
  { id: 'set-configuration-closed', title: 'setConfiguration after close()', check: 'setConfigurationAfterClose', spec: 'InvalidStateError', why: 'set a configuration: the connection is closed' },
  { id: 'certificate-ecdsa', title: 'generated ECDSA P-256 certificate', check: 'certificateEcdsa', spec: 'ok', why: 'generateCertificate: ECDSA P-256 must be supported' },
  { id: 'certificate-rsa', title: 'generated RSASSA-PKCS1-v1_5 2048 certificate', check: 'certificateRsa', spec: 'ok', why: 'generateCertificate: RSASSA-PKCS1-v1_5 2048 must be supported' },
  { id: 'certificate-unsupported-algorithm', title: 'generateCertificate with AES-GCM', check: 'certificateUnsupportedAlgorithm', spec: 'NotSupportedError', why: 'generateCertificate: an algorithm the user agent does not support for certificates' },
  { id: 'certificate-expired', title: 'expired certificate', check: 'certificateExpired', spec: 'InvalidAccessError', why: 'set a configuration: a certificate whose expires is in the past' },
  { id: 'certificate-changed', title: 'setConfiguration with other certificates', check: 'certificateChanged', spec: 'InvalidModificationError', why: 'set a configuration: certificates differ from the current ones' },
];

describe('api: configuration validation', function () {

  for (const c of CONFIG_CASES) {
    describe(`${c.title}`, function () {
      for (const engine of suiteEngines()) {
        it(`${engine}: ${c.spec === 'ok' ? 'accepted' : c.spec}`, async function () {
          await allure.subSuite(c.id);
          await allure.description(`Spec: **${c.spec}** — ${c.why}.${c.config !== undefined ? `\n\n\`new RTCPeerConnection(${JSON.stringify(c.config)})\`` : ''}`);
          const { page, version } = await openApi(this, API_PAGES, 'configuration', engine);
          const o = await runCheck(page, 'config', c.check, c.config);
          await gate(`api/config/${c.id}`, [{ engine, version }], o.observed, c.spec, c.why);
        });
      }
    });
  }
});
