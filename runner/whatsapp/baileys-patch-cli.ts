import { applyBaileysPatches } from './baileys-patch.js'

// Run by `npm install` (postinstall). A failure fails the install: a runner on an unpatched or different Baileys
// could lose an inbound STOP (runner/whatsapp/baileys-patch.ts).
for (const { file, outcome } of applyBaileysPatches()) {
  console.log(`baileys patch ${file}: ${outcome}`)
}
