import { describe, expect, it } from 'vitest';
import { flowOf, runAction } from '../../../test/support/flows.js';
import { answersClient } from '../validate.js';
import { ACTIONS } from './index.js';

describe('response actions', () => {
  it('create-response puts a templated value in the /track answer’s response', async () => {
    const { result } = await runAction('create-response', {
      key: 'offer',
      body: { order: 'event@properties.id', text: 'thanks' },
    });
    expect(result.response).toEqual({ offer: { order: 'order-7', text: 'thanks' } });
  });

  it('ux-snippet adds rendered HTML and script to the answer’s ux', async () => {
    const { result } = await runAction('ux-snippet', {
      html: '<p>Order {{event@properties.id}}</p>',
      script: 'console.log("{{event@type}}")',
    });
    expect(result.ux).toEqual([
      { tag: 'div', props: {}, content: '<p>Order order-7</p>' },
      { tag: 'script', props: {}, content: 'console.log("purchase")' },
    ]);
  });

  it('a flow holding a response or UX action answers the client', () => {
    for (const action of ['create-response', 'ux-snippet']) {
      expect(
        answersClient(
          flowOf(
            [
              ['s', 'start'],
              ['r', action],
            ],
            [],
          ).graph,
          ACTIONS,
        ),
      ).toBe(true);
    }
    expect(
      answersClient(
        flowOf(
          [
            ['s', 'start'],
            ['l', 'log'],
          ],
          [],
        ).graph,
        ACTIONS,
      ),
    ).toBe(false);
  });

  it('log records a rendered message at its level', async () => {
    const { result } = await runAction('log', { message: 'saw {{event@type}}', level: 'warning' });
    expect(result.effects).toEqual([{ kind: 'log', level: 'warning', message: 'saw purchase' }]);
    const plain = await runAction('log', { message: 'hello' });
    expect(plain.result.effects).toEqual([{ kind: 'log', level: 'info', message: 'hello' }]);
  });
});
