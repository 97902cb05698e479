import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { headersOf, rawQueryOf } from '../../shared/http/event.ts';
import { correlationIdOf } from '../../shared/observability/correlation.ts';
import { parseDeliveryMessage } from '../../shared/webhooks/delivery.ts';

// Events and queue bodies are outside data: the checks below guard fields their declared types call present.
const bare = {} as APIGatewayProxyEventV2;

describe('outside-data readers', () => {
  it('read an event without headers or query string as empty', () => {
    expect(rawQueryOf(bare)).toBe('');
    expect(headersOf(bare)).toEqual({});
    expect(correlationIdOf(bare)).toBeUndefined();
  });

  it('refuse a queue body whose event has no data', () => {
    const body = JSON.stringify({
      endpointId: 'e1',
      event: { id: 'i1', type: 'connection.failed', ownerKeyId: 'k1', timestamp: 1 },
    });
    expect(parseDeliveryMessage(body)).toBeUndefined();
  });
});
