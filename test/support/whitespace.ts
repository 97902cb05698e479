/**
 * Characters `String.prototype.trim` strips that RFC 6265 §5.2 does not (it strips only SP and HTAB):
 * the non-ASCII Unicode whitespace, which a browser sends as raw UTF-8 in a Cookie header.
 */
export const UNICODE_WHITESPACE = [
  '\u00a0',
  '\u1680',
  '\u2000',
  '\u2001',
  '\u2002',
  '\u2003',
  '\u2004',
  '\u2005',
  '\u2006',
  '\u2007',
  '\u2008',
  '\u2009',
  '\u200a',
  '\u2028',
  '\u2029',
  '\u202f',
  '\u205f',
  '\u3000',
  '\ufeff',
];
