import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorHandler } from '../error-handler.js';
import { tqlRoutes } from './tql.js';

describe('TQL routes', () => {
  let app: FastifyInstance;

  beforeAll(async () => {
    app = Fastify();
    app.setErrorHandler(errorHandler);
    await app.register(tqlRoutes);
    await app.ready();
  });

  afterAll(() => app.close());

  const post = (url: string, payload: unknown) => app.inject({ method: 'POST', url, payload: payload as object });

  it('validates a condition and lists its fields', async () => {
    const response = await post('/tql/validate', {
      condition: 'profile@traits.age > 18 AND event@type == "buy" OR profile@traits.age < 3',
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ valid: true, fields: ['profile@traits.age', 'event@type'] });
  });

  it('reports a syntax error with its position and what was expected', async () => {
    const response = await post('/tql/validate', { condition: 'profile@traits.age >' });
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body.valid).toBe(false);
    expect(body.error.position).toBe(20);
    expect(body.error.expected.length).toBeGreaterThan(0);
    expect(body.fields).toEqual([]);
  });

  it('calls a condition with half a surrogate pair invalid: it could never be stored', async () => {
    const response = await post('/tql/validate', { condition: 'profile@traits.x == "\\ud800"' });
    expect(response.json()).toMatchObject({
      valid: false,
      error: { position: 20, message: expect.stringContaining('unpaired surrogate') },
    });
  });

  it('evaluates against a context and returns warnings', async () => {
    const response = await post('/tql/evaluate', {
      condition: 'profile@traits.age > 18 OR profile@traits.name CONTAINS 1',
      context: { profile: { traits: { age: 10, name: 'Ann' } } },
    });
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body.result).toBe(false);
    expect(body.warnings).toHaveLength(1);
    expect(body.warnings[0]).toContain('CONTAINS');
  });

  it('evaluates true', async () => {
    const response = await post('/tql/evaluate', {
      condition: 'event@type IN ["buy", "view"]',
      context: { event: { type: 'view' } },
    });
    expect(response.json()).toEqual({ result: true, warnings: [] });
  });

  it('answers a syntax error on evaluate with 400 naming the condition field', async () => {
    const response = await post('/tql/evaluate', { condition: 'profile@a ==', context: {} });
    expect(response.statusCode).toBe(400);
    const body = response.json();
    expect(body.error).toBe('bad_request');
    expect(body.details[0].field).toBe('condition');
    expect(body.message).toContain('position 12');
  });

  it('refuses a sample nested beyond 64 levels with 400 naming where, rather than overflowing the stack', async () => {
    const deep = `${'{"a":'.repeat(99_999)}{}${'}'.repeat(99_999)}`;
    const response = await app.inject({
      method: 'POST',
      url: '/tql/evaluate',
      headers: { 'content-type': 'application/json' },
      payload: `{"condition":"profile@traits == \\"x\\"","context":{"profile":{"traits":${deep}}}}`,
    });
    expect(response.statusCode).toBe(400);
    expect(response.json().details[0].field).toMatch(/^context\.profile\.traits(\.a){62}$/);
    const shallow = await post('/tql/evaluate', {
      condition: 'profile@traits.a.a EXISTS',
      context: { profile: { traits: { a: { a: 1 } } } },
    });
    expect(shallow.json()).toMatchObject({ result: true });
  });

  it('rejects a body without a condition', async () => {
    const response = await post('/tql/evaluate', { context: {} });
    expect(response.statusCode).toBe(400);
  });
});
