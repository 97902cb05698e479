/**
 * Decodes, once, every run of `%XX` escapes that spells UTF-8 text, and leaves any other escape (or a
 * bare `%`) as it is, as a lenient server does.
 */
export function decodePercentEscapes(text: string): string {
  return text.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
    try {
      return decodeURIComponent(run);
    } catch {
      return run;
    }
  });
}
