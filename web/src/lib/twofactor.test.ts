import { describe, expect, it } from 'vitest';
import { create } from 'qrcode';
import { CODE_INVALID, CODE_REQUIRED, groupSecret, needsCode, parseOtpauth, secondFactor, totpDigits } from './twofactor';
import { qrPath } from './qr';

const URI = 'otpauth://totp/QuantumForge:e2e%40example.org?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=QuantumForge';

describe('the code of a login', () => {
  it('sends six digits as totp, anything else as a backup code', () => {
    expect(secondFactor('123456')).toEqual({ totp: '123456' });
    expect(secondFactor(' 123 456 ')).toEqual({ totp: '123456' });
    expect(secondFactor('abcd-efgh-ijkl-mnop')).toEqual({ backup_code: 'abcd-efgh-ijkl-mnop' });
    expect(secondFactor('12345')).toEqual({ backup_code: '12345' });
    expect(secondFactor('   ')).toBeNull();
  });
  it('asks for the code when the server says so, and again after a wrong one', () => {
    expect(needsCode({ code: CODE_REQUIRED }, false)).toBe(true);
    expect(needsCode({ code: CODE_INVALID }, true)).toBe(true);
    expect(needsCode({ code: 'auth.throttled' }, true)).toBe(true);
    expect(needsCode({ code: 'auth.throttled' }, false)).toBe(false);
    expect(needsCode({ code: 'auth.bad_credentials' }, false)).toBe(false);
  });
  it('takes six digits for confirming', () => {
    expect(totpDigits('000 111')).toBe('000111');
    expect(totpDigits('00011')).toBeNull();
    expect(totpDigits('abcdef')).toBeNull();
  });
});

describe('the enrolment as shown', () => {
  it('groups the secret by four', () => {
    expect(groupSecret('JBSWY3DPEHPK3PXP')).toBe('JBSW Y3DP EHPK 3PXP');
    expect(groupSecret('ABCDEF')).toBe('ABCD EF');
    expect(groupSecret('')).toBe('');
  });
  it('reads the otpauth URI the server makes (src/auth/totp.c qf_totp_uri)', () => {
    expect(parseOtpauth(URI)).toEqual({ issuer: 'QuantumForge', account: 'e2e@example.org', secret: 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP', digits: 6, period: 30 });
    expect(parseOtpauth('otpauth://totp/acct?secret=X&digits=8&period=60')).toMatchObject({ issuer: null, account: 'acct', digits: 8, period: 60 });
    expect(parseOtpauth('https://example.org/')).toBeNull();
    expect(parseOtpauth('otpauth://hotp/x?secret=A')).toBeNull();
  });
  it('draws every dark module of the QR code and nothing else', () => {
    const q = qrPath(URI);
    const m = create(URI, { errorCorrectionLevel: 'M' }).modules;
    expect(q.size).toBe(m.size);
    expect((q.size - 17) % 4).toBe(0); // a QR version: 21, 25, 29, ... modules
    expect(q.view).toBe(q.size + 8);
    // the runs of the path cover exactly the dark modules
    const grid = new Uint8Array(q.size * q.size);
    for (const [, x, y, w] of q.d.matchAll(/M(\d+) (\d+)h(\d+)v1h-\d+z/g)) {
      for (let i = 0; i < Number(w); i++) grid[(Number(y) - 4) * q.size + Number(x) - 4 + i] = 1;
    }
    expect(Array.from(grid)).toEqual(Array.from(m.data, (v) => (v ? 1 : 0)));
    // the top-left finder pattern: a row of seven dark modules at the quiet zone's corner
    expect(q.d.startsWith('M4 4h7v1h-7z')).toBe(true);
  });
  it('grows with the text and is the same for the same text', () => {
    expect(qrPath(URI).d).toBe(qrPath(URI).d);
    expect(qrPath(URI + 'x'.repeat(200)).size).toBeGreaterThan(qrPath(URI).size);
  });
});
