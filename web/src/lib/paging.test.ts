import { describe, expect, it } from 'vitest';
import { currentToken, firstPage, nextPage, previousPage } from './paging';

describe('continuation paging', () => {
  it('walks forward with continuation tokens and back again', () => {
    let state = firstPage;
    expect(currentToken(state)).toBeNull();
    state = nextPage(state, 'tok-2');
    state = nextPage(state, 'tok-3');
    expect(state.tokens).toEqual([null, 'tok-2', 'tok-3']);
    expect(currentToken(state)).toBe('tok-3');
    state = previousPage(state);
    expect(currentToken(state)).toBe('tok-2');
    expect(previousPage(previousPage(state))).toEqual(firstPage);
  });

  it('does not move past the last page', () => {
    expect(nextPage(firstPage, null)).toBe(firstPage);
    expect(nextPage(firstPage, undefined)).toBe(firstPage);
  });
});
