import { describe, expect, it } from 'vitest';
import { parseXml, XmlSyntaxError } from '../../local/dataverse/xml.ts';

describe('the FetchXML reader of the Dataverse stand-in', () => {
  it('reads elements, attributes in either quote, text, entities and comments', () => {
    const root = parseXml(`<?xml version="1.0"?><!-- query --><fetch top='2'>
      <entity name="account"><condition attribute="name" operator="eq" value="O&apos;Brien &amp; Sons"/>
      <condition attribute="revenue" operator="in"><value>1&#48;</value><!-- x --><value>&#x32;0</value></condition></entity></fetch>`);
    expect(root.name).toBe('fetch');
    expect(root.attributes).toEqual({ top: '2' });
    const [equal, within] = root.children[0]!.children;
    expect(equal!.attributes.value).toBe("O'Brien & Sons");
    expect(within!.children.map((v) => v.text)).toEqual(['10', '20']);
  });

  it('refuses what is not well-formed or outside the subset (DTDs, unknown entities, duplicate attributes)', () => {
    for (const xml of [
      '<fetch><entity></fetch>',
      '<fetch a="1" a="2"/>',
      '<fetch>&bogus;</fetch>',
      '<!DOCTYPE fetch><fetch/>',
      '<fetch/><fetch/>',
      '<fetch attr=unquoted/>',
      '<fetch',
      '<![CDATA[x]]>',
    ]) {
      expect(() => parseXml(xml), xml).toThrow(XmlSyntaxError);
    }
  });
});
