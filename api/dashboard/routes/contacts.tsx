import { Hono } from '../../hono-app.js'
import { searchContacts } from '../../../db/queries/contacts.js'
import { setContactOptIn } from '../../../db/lifecycle/opt-out.js'
import { OPT_IN_STATES, type OptIn } from '../../../db/types.js'
import { normalizePhone, PHONE_DIGITS, PHONE_RULE } from '../../phone.js'
import { field, pageOf, safeReturn, type DashboardContext, type DashboardEnv, type DashboardShared } from '../context.js'
import { formatPhone } from '../format.js'
import { ContactsPage, type ContactSearchForm, type ContactSetForm } from '../views/contacts.js'
import type { Notice } from '../views/layout.js'
import { singleQuery } from '../../query.js'

const PAGE_SIZE = 50
const isOptIn = (v: string | undefined): v is OptIn => v !== undefined && (OPT_IN_STATES as readonly string[]).includes(v)

function noticeFrom(query: Record<string, string>): Notice | null {
  if (query.done !== 'set' || !query.phone || !PHONE_DIGITS.test(query.phone) || !isOptIn(query.state)) return null
  const n = query.n && /^\d{1,9}$/.test(query.n) ? Number(query.n) : 0
  const extra = n > 0 ? ` ${n} pending message${n === 1 ? ' was' : 's were'} marked opted out.` : ''
  return { kind: 'ok', text: `${formatPhone(query.phone)} is now “${query.state}”.${extra}` }
}

/** Contacts: search by phone prefix, see consent, change it. */
export function contactPages(shared: DashboardShared) {
  const app = new Hono<DashboardEnv>()

  async function render(c: DashboardContext, setForm: ContactSetForm, status: 200 | 422 = 200) {
    const query = singleQuery(c)
    const search: ContactSearchForm = { q: query.q ?? '', optIn: isOptIn(query.opt_in) ? query.opt_in : '' }
    // A prefix of digits; people type "+961" or "00961", so those are stripped like a full phone.
    const prefix = search.q.trim().replace(/[\s\-.()]/g, '').replace(/^(\+|00)/, '')
    if (prefix && !/^\d{1,15}$/.test(prefix)) search.error = 'Type the first digits of the phone number (digits only)'
    const after = query.after && PHONE_DIGITS.test(query.after) ? query.after : undefined
    const rows = search.error
      ? []
      : await searchContacts(c.get('db'), {
          ...(prefix ? { phonePrefix: prefix } : {}),
          ...(search.optIn ? { optIn: search.optIn as OptIn } : {}),
          ...(after ? { afterPhone: after } : {}),
          limit: PAGE_SIZE + 1,
        })
    const contacts = rows.slice(0, PAGE_SIZE)
    const nextAfter = rows.length > PAGE_SIZE ? contacts[contacts.length - 1]!.phone : null
    const url = new URL(c.req.url)
    return c.html(
      <ContactsPage
        page={pageOf(shared, c)}
        search={search}
        contacts={contacts}
        nextAfter={nextAfter}
        isFirstPage={!after}
        setForm={setForm}
        notice={noticeFrom(query)}
        self={`${shared.base}/contacts${url.search}`}
      />,
      search.error ? 422 : status,
    )
  }

  app.get('/', (c) => render(c, { phone: '', optIn: 'yes', errors: {} }))

  app.post('/', async (c) => {
    const rawPhone = field(c.var.form, 'phone') ?? ''
    const rawState = field(c.var.form, 'opt_in')
    const setForm: ContactSetForm = { phone: rawPhone, optIn: rawState ?? '', errors: {} }
    const phone = normalizePhone(rawPhone)
    if (!phone) setForm.errors.phone = `The phone ${PHONE_RULE}`
    if (!isOptIn(rawState)) setForm.errors.opt_in = `Pick one of ${OPT_IN_STATES.join(', ')}`
    if (!phone || !isOptIn(rawState)) return render(c, setForm, 422)
    const optedOut = await setContactOptIn(c.get('db'), phone, rawState)
    const target = safeReturn(shared.base, field(c.var.form, 'back'), `${shared.base}/contacts?q=${phone}`)
    const url = new URL(target, 'http://x')
    for (const k of ['done', 'phone', 'state', 'n']) url.searchParams.delete(k)
    url.searchParams.set('done', 'set')
    url.searchParams.set('phone', phone)
    url.searchParams.set('state', rawState)
    if (optedOut > 0) url.searchParams.set('n', String(optedOut))
    return c.redirect(`${url.pathname}${url.search}`, 303)
  })

  return app
}
