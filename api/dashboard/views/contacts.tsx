import type { FC } from 'hono/jsx'
import { OPT_IN_STATES, type ContactRecord, type OptIn } from '../../../db/types.js'
import { formatPhone } from '../format.js'
import { Csrf, Layout, type Notice, type Page } from './layout.js'
import { Badge, FieldError, When } from './parts.js'

export interface ContactSearchForm {
  q: string
  optIn: string
  error?: string
}

export interface ContactSetForm {
  phone: string
  optIn: string
  errors: Partial<Record<'phone' | 'opt_in', string>>
}

const OPT_IN_HELP: Record<OptIn, string> = {
  pending: 'pending — has not answered yet (receives messages unless OPT_IN_MODE=confirm)',
  yes: 'yes — opted in (e.g. internal staff)',
  no: 'no — opted out: nothing is sent, pending messages become opted out',
}

const StateSelect: FC<{ id: string; name: string; value: string; invalid?: boolean; describedBy?: string; withAny?: boolean }> = (p) => (
  <select id={p.id} name={p.name} aria-invalid={p.invalid ? 'true' : undefined} aria-describedby={p.describedBy}>
    {p.withAny ? <option value="">any</option> : null}
    {OPT_IN_STATES.map((s) => (
      <option value={s} selected={p.value === s}>
        {p.withAny ? s : OPT_IN_HELP[s]}
      </option>
    ))}
  </select>
)

export const ContactsPage: FC<{
  page: Page
  search: ContactSearchForm
  contacts: ContactRecord[]
  nextAfter: string | null
  isFirstPage: boolean
  setForm: ContactSetForm
  notice?: Notice | null
  self: string
}> = ({ page, search, contacts, nextAfter, isFirstPage, setForm, notice, self }) => {
  const q = new URLSearchParams()
  if (search.q) q.set('q', search.q)
  if (search.optIn) q.set('opt_in', search.optIn)
  const base = `${page.base}/contacts`
  const first = q.toString() ? `${base}?${q}` : base
  if (nextAfter) q.set('after', nextAfter)
  return (
    <Layout page={page} title="Contacts" section="contacts" notice={notice}>
      <p class="muted">
        Consent per phone number. People change it themselves by replying STOP or YES; change it here for the cases the guide's
        troubleshooting section fixes by hand (mark internal staff “yes”, reset someone to “pending”).
      </p>
      <form method="get" action={base} class="card filters" role="search" aria-label="Search contacts">
        <div class="field">
          <label for="q">Phone starts with</label>
          <input
            id="q"
            name="q"
            type="search"
            inputmode="tel"
            value={search.q}
            placeholder="961"
            aria-invalid={search.error ? 'true' : undefined}
            aria-describedby={search.error ? 'q-error' : undefined}
          />
          <FieldError id="q-error" error={search.error} />
        </div>
        <div class="field">
          <label for="f-opt-in">Opt-in</label>
          <StateSelect id="f-opt-in" name="opt_in" value={search.optIn} withAny />
        </div>
        <div class="actions">
          <button type="submit">Search</button>
        </div>
      </form>

      {contacts.length === 0 ? (
        <p class="empty">
          {search.q || search.optIn || !isFirstPage
            ? 'No contacts match. A number appears here once it writes to one of your sessions or its state is set below.'
            : 'No contacts yet. A number appears here once it writes to one of your sessions (STOP, YES or anything else) or when you set its state below.'}
        </p>
      ) : (
        <table class="responsive">
          <thead>
            <tr>
              <th scope="col">Phone</th>
              <th scope="col">Name</th>
              <th scope="col">Opt-in</th>
              <th scope="col">Changed</th>
              <th scope="col">Last message from them</th>
              <th scope="col">Change to</th>
            </tr>
          </thead>
          <tbody>
            {contacts.map((c) => (
              <tr data-contact={c.phone}>
                <td data-label="Phone">
                  <a href={`${page.base}/messages?phone=${c.phone}`}>{formatPhone(c.phone)}</a>
                </td>
                <td data-label="Name" dir="auto">
                  {c.name ?? '—'}
                </td>
                <td data-label="Opt-in">
                  <Badge status={c.optIn} />
                </td>
                <td data-label="Changed">
                  <When at={c.optInAt} now={page.now} />
                </td>
                <td data-label="Last message">
                  <When at={c.lastInboundAt} now={page.now} />
                </td>
                <td data-label="Change to">
                  <form method="post" action={`${page.base}/contacts`} class="actions flush-top">
                    <Csrf page={page} />
                    <input type="hidden" name="phone" value={c.phone} />
                    <input type="hidden" name="back" value={self} />
                    <label class="sr-only" for={`opt-${c.phone}`}>
                      New opt-in state for {formatPhone(c.phone)}
                    </label>
                    <select id={`opt-${c.phone}`} name="opt_in">
                      {OPT_IN_STATES.map((s) => (
                        <option value={s} selected={c.optIn === s}>
                          {s}
                        </option>
                      ))}
                    </select>
                    <button type="submit" class="small secondary">
                      Save
                    </button>
                  </form>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <nav class="pager" aria-label="Pages">
        {!isFirstPage ? <a href={first}>« First page</a> : null}
        {nextAfter ? <a href={`${base}?${q}`}>Next »</a> : null}
      </nav>

      <h2 id="set">Set a number's state</h2>
      <form method="post" action={`${page.base}/contacts`} class="card">
        <Csrf page={page} />
        <div class="field">
          <label for="set-phone">Phone</label>
          <input
            id="set-phone"
            name="phone"
            type="tel"
            value={setForm.phone}
            required
            aria-invalid={setForm.errors.phone ? 'true' : undefined}
            aria-describedby={setForm.errors.phone ? 'set-phone-error' : undefined}
          />
          <FieldError id="set-phone-error" error={setForm.errors.phone} />
        </div>
        <div class="field">
          <label for="set-opt-in">Opt-in</label>
          <StateSelect
            id="set-opt-in"
            name="opt_in"
            value={setForm.optIn || 'yes'}
            invalid={Boolean(setForm.errors.opt_in)}
            describedBy={setForm.errors.opt_in ? 'set-opt-in-error' : undefined}
          />
          <FieldError id="set-opt-in-error" error={setForm.errors.opt_in} />
        </div>
        <button type="submit">Save state</button>
      </form>
    </Layout>
  )
}
