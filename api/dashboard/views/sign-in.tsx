import type { FC } from 'hono/jsx'
import { BareLayout, NoticeBox, type Notice } from './layout.js'

export const SignInPage: FC<{ base: string; next: string; notice?: Notice | null; error?: string }> = ({ base, next, notice, error }) => (
  <BareLayout base={base} title="Sign in">
    <div class="signin">
      <h1>WA Gateway</h1>
      <NoticeBox notice={notice} />
      <form method="post" action={`${base}/sign-in`} class="card">
        <input type="hidden" name="next" value={next} />
        <div class="field">
          <label for="api_key">API key</label>
          <input
            id="api_key"
            name="api_key"
            type="password"
            autocomplete="current-password"
            required
            autofocus
            aria-invalid={error ? 'true' : undefined}
            aria-describedby={error ? 'api_key-error api_key-hint' : 'api_key-hint'}
          />
          <p class="hint small muted" id="api_key-hint">
            The same key your applications send in the <code>X-API-Key</code> header (<code>API_SECRET</code> on the server).
          </p>
          {error ? (
            <p class="error" id="api_key-error" role="alert">
              {error}
            </p>
          ) : null}
        </div>
        <button type="submit">Sign in</button>
      </form>
    </div>
  </BareLayout>
)
