import type { Readable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate, type Gunzip } from 'node:zlib';
import { HttpError } from './errors.js';

/** The encodings a body may be sent in (server SDKs compress large batches). */
const DECODERS: Record<string, () => Gunzip | ReturnType<typeof createBrotliDecompress>> = {
  gzip: createGunzip,
  'x-gzip': createGunzip,
  deflate: createInflate,
  br: createBrotliDecompress,
};

/**
 * The request body as sent before its Content-Encoding, for Fastify's preParsing hook. The body
 * limit applies to the decoded size: Fastify counts what this stream emits and refuses the body
 * past the limit; here decoding stops there too, so a small zip bomb never inflates further.
 * Fastify compares `receivedEncodedLength` with Content-Length, so it counts the bytes as sent.
 */
export function decodeBody(contentEncoding: string | undefined, body: Readable, limit: number): Readable {
  const encoding = (contentEncoding ?? 'identity').trim().toLowerCase();
  if (encoding === 'identity' || encoding === '') return body;
  const createDecoder = DECODERS[encoding];
  if (!createDecoder) {
    throw new HttpError(415, 'unsupported_media_type', `Content-Encoding "${encoding}" is not supported`, [
      { field: 'content-encoding', message: `expected one of identity, ${Object.keys(DECODERS).join(', ')}` },
    ]);
  }
  const decoder = Object.assign(createDecoder(), { receivedEncodedLength: 0 });
  body.on('data', (chunk: Buffer) => (decoder.receivedEncodedLength += chunk.length));
  body.on('error', (error) => decoder.destroy(error));
  decoder.on('error', (error) => decodingErrors.add(error));
  let decodedLength = 0;
  decoder.on('data', (chunk: Buffer) => {
    decodedLength += chunk.length;
    if (decodedLength > limit) {
      body.unpipe(decoder);
      decoder.destroy();
    }
  });
  return body.pipe(decoder);
}

/** Errors of a decoder: bytes that are not what Content-Encoding says (zlib and brotli name them variously). */
const decodingErrors = new WeakSet<object>();

export function isDecodingError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && decodingErrors.has(error);
}
