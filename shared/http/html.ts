import type { Config } from '../config/config.ts';
import type { HttpResponse } from './response.ts';

/** Text for HTML element content and quoted attribute values. */
export const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** A small server-rendered page: no script, no external resources, posts only to this service. */
export function htmlPage(config: Config, statusCode: number, title: string, body: string): HttpResponse {
  const origin = config.publicBaseUrl.origin;
  return {
    statusCode,
    headers: {
      'Content-Type': 'text/html; charset=utf-8',
      'Cache-Control': 'no-store',
      Pragma: 'no-cache',
      'Referrer-Policy': 'no-referrer',
      'X-Content-Type-Options': 'nosniff',
      'Content-Security-Policy': `default-src 'none'; style-src 'unsafe-inline'; form-action ${origin}; frame-ancestors 'none'; base-uri 'none'`,
    },
    body:
      `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">` +
      `<title>${escapeHtml(title)}</title><style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;line-height:1.5}` +
      `fieldset{border:1px solid #888;padding:1rem}label{display:block;padding:.25rem 0}button{margin-top:1rem;padding:.5rem 1rem}</style></head>` +
      `<body><main>${body}</main></body></html>\n`,
  };
}
