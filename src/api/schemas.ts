import { Type } from '@sinclair/typebox';

export const ErrorSchema = Type.Object({
  error: Type.String(),
  message: Type.String(),
  detail: Type.String(),
  details: Type.Array(Type.Object({ field: Type.String(), message: Type.String() })),
});

export const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) });

export const PageQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
  cursor: Type.Optional(
    Type.String({ pattern: '^-?[0-9]{1,19}_[0-9]{1,19}$', description: 'the `next` of the previous page' }),
  ),
});
