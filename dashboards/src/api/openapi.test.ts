// @vitest-environment node
// `openapi.d.ts` is what `npm run gen:api` makes of the server's OpenAPI document today: a
// change to `medilink-server/openapi.json` without regenerating the types fails here.

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import openapiTS from 'openapi-typescript';
import { describe, expect, it } from 'vitest';

const here = import.meta.dirname;

describe('openapi.d.ts', () => {
  it('is generated from the current medilink-server/openapi.json', async () => {
    const document = new URL(`file://${resolve(here, '../../../medilink-server/openapi.json')}`);
    const generated = await openapiTS(document);
    const committed = readFileSync(resolve(here, 'openapi.d.ts'), 'utf8');
    expect(committed).toBe(generated);
  });
});
