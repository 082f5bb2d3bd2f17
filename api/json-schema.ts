/**
 * OpenAPI 3.1 (JSON Schema 2020-12) for the valibot schemas the API validates with, so `/api/openapi.json` is
 * generated from the objects that check requests. It knows the schema types and actions `schema.ts` builds on
 * and nothing else; `custom` rules describe themselves with `v.metadata`. @valibot/to-json-schema gives the same
 * keywords (tests/api/json-schema.test.ts compares them) but weighs 3 KiB gzipped, too much for the Workers bundle.
 */
import type * as v from 'valibot'
import type { JsonSchema } from './schema.js'

type Node = v.GenericSchema & {
  pipe?: readonly (v.GenericSchema | v.GenericValidation | v.GenericMetadata | v.GenericTransformation)[]
  wrapped?: v.GenericSchema
  entries?: Record<string, v.GenericSchema>
  item?: v.GenericSchema
  options?: readonly unknown[]
  default?: unknown
}

type Action = { kind: string; type: string; requirement?: unknown; description?: string; examples?: unknown[]; metadata?: JsonSchema }

/** True when an object may omit the field. */
export function isOptionalField(schema: v.GenericSchema): boolean {
  return schema.type === 'optional' || schema.type === 'nullish'
}

function base(schema: Node): JsonSchema {
  switch (schema.type) {
    case 'string':
      return { type: 'string' }
    case 'number':
      return { type: 'number' }
    case 'boolean':
      return { type: 'boolean' }
    case 'picklist':
      return { type: 'string', enum: [...schema.options!] }
    case 'array':
      return { type: 'array', items: toJsonSchema(schema.item!) }
    case 'object': {
      const properties: Record<string, JsonSchema> = {}
      const required: string[] = []
      for (const [key, field] of Object.entries(schema.entries!)) {
        properties[key] = toJsonSchema(field)
        if (!isOptionalField(field)) required.push(key)
      }
      return { type: 'object', properties, ...(required.length ? { required } : {}) }
    }
    case 'optional':
    case 'nullish': {
      const inner = toJsonSchema(schema.wrapped!)
      return schema.default === undefined ? inner : { ...inner, default: schema.default }
    }
    case 'nullable': {
      const inner = toJsonSchema(schema.wrapped!)
      return typeof inner.type === 'string' ? { ...inner, type: [inner.type, 'null'] } : { anyOf: [inner, { type: 'null' }] }
    }
    case 'union':
      return { anyOf: (schema.options as v.GenericSchema[]).map(toJsonSchema) }
    default:
      return {}
  }
}

/** A pipe's actions as keywords; a later schema in the pipe (an array's items after its length) refines the first. */
function applyAction(js: JsonSchema, item: Action | Node): JsonSchema {
  if (item.kind === 'schema') return { ...js, ...toJsonSchema(item as Node) }
  const a = item as Action
  const isArray = js.type === 'array'
  switch (a.type) {
    case 'min_code_points':
    case 'min_length':
      return { ...js, [isArray ? 'minItems' : 'minLength']: a.requirement }
    case 'max_code_points':
    case 'max_length':
      return { ...js, [isArray ? 'maxItems' : 'maxLength']: a.requirement }
    case 'regex':
      return { ...js, pattern: (a.requirement as RegExp).source }
    case 'safe_integer':
    case 'integer':
      return { ...js, type: 'integer' }
    case 'min_value':
      return { ...js, minimum: a.requirement }
    case 'max_value':
      return { ...js, maximum: a.requirement }
    case 'description':
      return { ...js, description: a.description }
    case 'examples':
      return { ...js, examples: a.examples }
    case 'metadata':
      // A custom rule's own description of itself; a declared type replaces what the pipe's base suggested.
      return a.metadata!.type === undefined ? { ...js, ...a.metadata } : { ...a.metadata }
    default:
      return js
  }
}

/** The JSON Schema of one valibot schema. */
export function toJsonSchema(schema: v.GenericSchema): JsonSchema {
  const node = schema as Node
  const pipe = node.pipe
  if (!pipe) return base(node)
  return pipe.slice(1).reduce<JsonSchema>((js, item) => applyAction(js, item), toJsonSchema(pipe[0] as Node))
}
