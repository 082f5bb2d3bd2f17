/**
 * Everything that changes a message, or a session's sending state, is one transition here (db/README.md, The
 * message states): each a transaction-scoped function that writes its webhook events in the same transaction.
 * The statements they run are in `db/queries/`. api/ and runner/ change messages only through these functions.
 */
export * from './enqueue.js'
export * from './claim.js'
export * from './settle.js'
export * from './receipts.js'
export * from './reconcile.js'
export * from './resend.js'
export * from './cancel.js'
export * from './revoke.js'
export * from './opt-out.js'
export * from './contact-change.js'
export * from './consent.js'
export * from './inbound.js'
export * from './session-delete.js'
export * from './pause.js'
export * from './settings.js'
export * from './limit-plan.js'
export { probeDue, type SessionDue } from '../queries/message-claim.js'
