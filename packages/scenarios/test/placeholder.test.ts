import { expect, test } from 'vitest';
import * as m from '../src/index.js';

test('the package loads', () => {
  expect(Object.keys(m).length).toBeGreaterThan(0);
});
