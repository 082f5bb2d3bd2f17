import {
  BufferJSON,
  initAuthCreds,
  proto,
  type AuthenticationCreds,
  type AuthenticationState,
  type SignalDataSet,
  type SignalDataTypeMap,
  type SignalKeyStore
} from '@whiskeysockets/baileys'

/**
 * Baileys auth state held in memory, for tests and benchmarks. `snapshot()` serialises it the way the runner's DB
 * store will (BufferJSON), and `restoreMemoryAuth` revives it in a fresh object graph: what a process restart does.
 */
export type MemoryAuth = {
  state: AuthenticationState
  /** JSON of creds and every key, as a process would persist them. */
  snapshot(): string
  /** Deletes every key of one type (e.g. `session`: a device that lost its Signal sessions). */
  forget(type: keyof SignalDataTypeMap): void
}

type Rows = Record<string, Record<string, unknown>>

export function createMemoryAuth(): MemoryAuth {
  return fromRows(initAuthCreds(), {})
}

export function restoreMemoryAuth(snapshot: string): MemoryAuth {
  const { creds, keys } = JSON.parse(snapshot, BufferJSON.reviver) as { creds: AuthenticationCreds; keys: Rows }
  return fromRows(creds, keys)
}

function fromRows(creds: AuthenticationCreds, rows: Rows): MemoryAuth {
  const keys: SignalKeyStore = {
    get<T extends keyof SignalDataTypeMap>(type: T, ids: string[]) {
      const table = rows[type] ?? {}
      const out: Record<string, SignalDataTypeMap[T]> = {}
      for (const id of ids) {
        let value = table[id]
        if (value === undefined) continue
        // app-state keys are protos whose JSON form loses their class (runner/README.md, Auth state)
        if (type === 'app-state-sync-key') value = proto.Message.AppStateSyncKeyData.fromObject(value as object)
        out[id] = value as SignalDataTypeMap[T]
      }
      return out
    },
    set(data: SignalDataSet) {
      for (const type in data) {
        const table = (rows[type] ??= {})
        for (const [id, value] of Object.entries(data[type as keyof SignalDataSet]!)) {
          if (value == null) delete table[id]
          else table[id] = value
        }
      }
    },
    clear() {
      for (const type of Object.keys(rows)) delete rows[type]
    }
  }
  return {
    state: { creds, keys },
    snapshot: () => JSON.stringify({ creds, keys: rows }, BufferJSON.replacer),
    forget: type => {
      delete rows[type]
    }
  }
}
