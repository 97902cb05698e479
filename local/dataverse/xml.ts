/**
 * A minimal XML reader for FetchXML: elements, attributes (single or double quotes), text and the
 * five predefined entities; comments and the XML declaration are skipped. No DTDs, no namespaces,
 * no CDATA — FetchXML uses none of them, and anything else is refused as malformed.
 */
export interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  children: XmlElement[];
  text: string;
}

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
const NAME = /[A-Za-z_][\w.-]*/y;

export class XmlSyntaxError extends Error {}

export function parseXml(source: string): XmlElement {
  let at = 0;
  const fail = (what: string): never => {
    throw new XmlSyntaxError(`${what} at position ${at}`);
  };
  const skipMisc = () => {
    for (;;) {
      while (/\s/.test(source[at] ?? '')) at++;
      if (source.startsWith('<!--', at)) {
        const end = source.indexOf('-->', at);
        if (end < 0) fail('Unterminated comment');
        at = end + 3;
      } else if (source.startsWith('<?', at)) {
        const end = source.indexOf('?>', at);
        if (end < 0) fail('Unterminated declaration');
        at = end + 2;
      } else return;
    }
  };
  const decode = (text: string) =>
    text.replace(/&(#x[0-9a-f]+|#\d+|\w+);/gi, (whole, ref: string) => {
      if (ref[0] === '#')
        return String.fromCodePoint(
          ref[1] === 'x' || ref[1] === 'X' ? parseInt(ref.slice(2), 16) : Number(ref.slice(1)),
        );
      const value = ENTITIES[ref];
      return value ?? fail(`Unknown entity ${whole}`);
    });
  const readName = (): string => {
    NAME.lastIndex = at;
    const match = NAME.exec(source);
    if (!match) return fail('Expected a name');
    at += match[0].length;
    return match[0];
  };
  const readElement = (): XmlElement => {
    if (source[at] !== '<') fail('Expected an element');
    at++;
    const element: XmlElement = { name: readName(), attributes: {}, children: [], text: '' };
    for (;;) {
      while (/\s/.test(source[at] ?? '')) at++;
      if (source.startsWith('/>', at)) {
        at += 2;
        return element;
      }
      if (source[at] === '>') {
        at++;
        break;
      }
      const attribute = readName();
      while (/\s/.test(source[at] ?? '')) at++;
      if (source[at] !== '=') fail('Expected =');
      at++;
      while (/\s/.test(source[at] ?? '')) at++;
      const quote = source[at];
      if (quote !== '"' && quote !== "'") return fail('Expected a quoted attribute value');
      const end = source.indexOf(quote, at + 1);
      if (end < 0) fail('Unterminated attribute value');
      if (attribute in element.attributes) fail(`Duplicate attribute ${attribute}`);
      element.attributes[attribute] = decode(source.slice(at + 1, end));
      at = end + 1;
    }
    for (;;) {
      const next = source.indexOf('<', at);
      if (next < 0) fail(`Unclosed element ${element.name}`);
      element.text += decode(source.slice(at, next));
      at = next;
      if (source.startsWith('<!--', at)) {
        skipMisc();
        continue;
      }
      if (source.startsWith('</', at)) {
        at += 2;
        if (readName() !== element.name) fail(`Mismatched closing tag for ${element.name}`);
        while (/\s/.test(source[at] ?? '')) at++;
        if (source[at] !== '>') fail('Expected >');
        at++;
        return element;
      }
      element.children.push(readElement());
    }
  };
  skipMisc();
  const root = readElement();
  skipMisc();
  if (at !== source.length) fail('Content after the root element');
  return root;
}
