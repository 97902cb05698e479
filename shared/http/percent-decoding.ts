/**
 * Decodes, once, every `%XX` escape sequence that spells UTF-8 text, and leaves any other escape (or
 * a bare `%`) as it is, as a lenient server does.
 */
export function decodePercentEscapes(text: string): string {
  return text.replace(/(?:%[0-9A-Fa-f]{2})+/g, decodeEscapeRun);
}

function decodeEscapeRun(run: string): string {
  try {
    return decodeURIComponent(run);
  } catch {
    // Some bytes are not UTF-8: decode character by character (a UTF-8 character is 1 to 4 bytes).
  }
  const escapes = run.match(/%[0-9A-Fa-f]{2}/g) ?? [];
  let out = '';
  for (let i = 0; i < escapes.length;) {
    const size = [4, 3, 2, 1].find((n) => i + n <= escapes.length && decodes(escapes.slice(i, i + n).join('')));
    out += size ? decodeURIComponent(escapes.slice(i, i + size).join('')) : escapes[i]!;
    i += size ?? 1;
  }
  return out;
}

function decodes(escapes: string): boolean {
  try {
    decodeURIComponent(escapes);
    return true;
  } catch {
    return false;
  }
}
