import { describe, expect, it } from 'vitest';
import { loopbackGuard } from '../../../local/loopback-guard.ts';

const guard = loopbackGuard({ host: '127.0.0.1', port: 3000 });

describe('loopbackGuard', () => {
  it.each(['localhost:3000', '127.0.0.1:3000', '[::1]:3000', 'LocalHost:3000'])(
    'serves a request to %s without an Origin (curl, a backend)',
    (host) => {
      // Act
      const refusal = guard({ host });

      // Assess
      expect(refusal).toBeUndefined();
    }
  );

  it.each([
    ['localhost:3000', 'http://localhost:3000'],
    ['127.0.0.1:3000', 'http://127.0.0.1:3000'],
    ['[::1]:3000', 'http://[::1]:3000'],
  ])('serves the page of this server (Host %s, Origin %s)', (host, origin) => {
    // Act
    const refusal = guard({ host, origin });

    // Assess
    expect(refusal).toBeUndefined();
  });

  it.each([
    ['a rebound name', 'attacker.example:3000'],
    ['a name ending in localhost', 'evil-localhost:3000'],
    ['localhost as a subdomain', 'localhost.attacker.example:3000'],
    ['another port', '127.0.0.1:3001'],
    ['no port (80)', 'localhost'],
    ['another loopback address', '127.0.0.2:3000'],
    ['userinfo', 'localhost:3000@attacker.example'],
    ['a path', 'localhost:3000/x'],
    ['nothing', ''],
  ])('refuses %s with 421 Misdirected Request', (_, host) => {
    // Act
    const refusal = guard({ host });

    // Assess
    expect(refusal?.status).toBe(421);
    expect(refusal?.code).toBe('MisdirectedRequest');
    expect(refusal?.message).toContain(
      'answers only requests addressed to localhost:3000, 127.0.0.1:3000 or [::1]:3000'
    );
    expect(refusal?.message).toContain('DNS rebinding');
  });

  it('refuses a request with no Host at all', () => {
    // Act
    const refusal = guard({});

    // Assess
    expect(refusal?.status).toBe(421);
  });

  it.each([
    ['another site', 'https://attacker.example'],
    ['another port of loopback', 'http://127.0.0.1:8080'],
    ['another name of this server', 'http://localhost:3000'],
    ['https of this server', 'https://127.0.0.1:3000'],
    ['an opaque origin (sandbox, file://)', 'null'],
    ['garbage', 'not a url'],
  ])('refuses an Origin of %s with 403', (_, origin) => {
    // Act
    const refusal = guard({ host: '127.0.0.1:3000', origin });

    // Assess
    expect(refusal?.status).toBe(403);
    expect(refusal?.code).toBe('Forbidden');
    expect(refusal?.message).toContain(
      `Requests from another site's page are refused`
    );
    expect(refusal?.message).toContain('(http://127.0.0.1:3000)');
  });

  it('keeps long header values out of the message', () => {
    // Act
    const refusal = guard({ host: `${'a'.repeat(500)}:3000` });

    // Assess
    expect(refusal?.message.length).toBeLessThan(500);
  });

  it('takes the address it is bound to, when not loopback', () => {
    // Prepare
    const onLan = loopbackGuard({ host: '192.168.1.20', port: 3000 });

    // Act
    const refusals = [
      onLan({ host: '192.168.1.20:3000' }),
      onLan({ host: 'localhost:3000' }),
      onLan({ host: '192.168.1.21:3000' }),
    ];

    // Assess
    expect(refusals.map((r) => r?.status)).toEqual([undefined, undefined, 421]);
    expect(refusals[2]?.message).toContain('or 192.168.1.20:3000');
  });

  it('takes an IPv6 address it is bound to', () => {
    // Prepare
    const onV6 = loopbackGuard({ host: '::1', port: 41109 });

    // Act
    const refusal = onV6({ host: '[::1]:41109', origin: 'http://[::1]:41109' });

    // Assess
    expect(refusal).toBeUndefined();
  });

  it('bound to every address, takes any IP literal but no other name', () => {
    // Prepare
    const everywhere = loopbackGuard({ host: '0.0.0.0', port: 3000 });

    // Act
    const refusals = [
      everywhere({ host: '10.0.0.5:3000' }),
      everywhere({ host: '[fe80::1]:3000' }),
      everywhere({ host: 'attacker.example:3000' }),
    ];

    // Assess
    expect(refusals.map((r) => r?.status)).toEqual([undefined, undefined, 421]);
  });
});
