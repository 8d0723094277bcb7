import { h } from '../dom.js';
import { apiBase, checkApiBase, decodeClaims, setApiBase } from '../settings.js';

export function renderSignIn(opts: { signIn(token: string): boolean }): HTMLElement {
  const base = h('input', {
    id: 'api-base',
    type: 'url',
    testid: 'api-base',
    placeholder: 'same origin as this page',
    autocomplete: 'url',
    'aria-describedby': 'api-base-hint',
  });
  base.value = apiBase();
  const token = h('textarea', {
    id: 'token',
    testid: 'token-input',
    rows: 4,
    required: true,
    class: 'mono',
    spellcheck: 'false',
    'aria-describedby': 'token-hint',
  });
  const error = h('p', { class: 'field-error', testid: 'sign-in-error', role: 'alert', hidden: true });

  function fail(message: string): void {
    error.textContent = message;
    error.hidden = false;
  }

  const form = h(
    'form',
    { class: 'card narrow', testid: 'sign-in-form', novalidate: true },
    h('h1', {}, 'Sign in'),
    h(
      'div',
      { class: 'field' },
      h('label', { for: 'token' }, 'Token (JWT)'),
      token,
      h(
        'p',
        { class: 'hint', id: 'token-hint' },
        'Local mode: ',
        h('code', {}, 'pnpm start'),
        ' prints an admin and an agent token, and links that sign in directly (…/console/#token=…). Other tokens: ',
        h('code', {}, 'pnpm mint-token'),
        '.',
      ),
    ),
    h(
      'div',
      { class: 'field' },
      h('label', { for: 'api-base' }, 'Gateway URL'),
      base,
      h(
        'p',
        { class: 'hint', id: 'api-base-hint' },
        'Leave empty when the gateway serves this console; otherwise e.g. http://127.0.0.1:3000 (the gateway must list this page’s origin in FRONTEND_URL). Kept in this browser.',
      ),
    ),
    error,
    h('button', { type: 'submit', testid: 'sign-in' }, 'Sign in'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    error.hidden = true;
    const baseProblem = checkApiBase(base.value);
    if (baseProblem) return fail(baseProblem);
    const value = token.value.trim().replace(/^Bearer\s+/i, '');
    if (!decodeClaims(value)) return fail('This is not a Glavito token: a JWT with sub and tenantId claims is expected.');
    setApiBase(base.value);
    if (!opts.signIn(value)) fail('This token cannot be read.');
  });
  return h('main', { id: 'main', testid: 'page-sign-in' }, form);
}
