import { expect } from 'chai';
import { parseCandidate } from './verdict.ts';

describe('parseCandidate', () => {
  it('reads type, transport and address from a candidate line, with or without a=', () => {
    expect(parseCandidate('candidate:1 1 UDP 1686052863 198.18.2.2 50619 typ srflx raddr 10.2.0.10 rport 50619')).to.deep.equal({ type: 'srflx', protocol: 'udp', address: '198.18.2.2', port: 50619 });
    expect(parseCandidate('a=candidate:2 1 tcp 1518280447 10.2.0.10 9 typ host tcptype active')).to.deep.equal({ type: 'host', protocol: 'tcp', address: '10.2.0.10', port: 9 });
  });
  it('is null for a line it cannot read', () => {
    expect(parseCandidate('')).to.equal(null);
    expect(parseCandidate('candidate:this is not a candidate')).to.equal(null);
  });
});
