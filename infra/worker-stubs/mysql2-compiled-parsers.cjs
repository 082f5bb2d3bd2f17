// Workers bundle stand-in for mysql2's row-parser compilers (`lib/parsers/text_parser.js`, `binary_parser.js`) and
// their cache (`lib/parsers/parser_cache.js`), together with `generate-function` and the Unicode tables of
// `is-property` they pull in. They write each parser as source text and compile it with `new Function`, which workerd
// forbids; the worker opens its connections with `disableEval: true` (api/worker.ts), and then mysql2's query and
// execute commands take the static parsers (`static_text_parser.js`, `static_binary_parser.js`) instead.
// See infra/wrangler.toml [alias].
'use strict'

function compiledParsersUnavailable() {
  throw new Error('mysql2 compiles row parsers with new Function, which workerd forbids: open mysql2 with disableEval: true')
}

// As text_parser.js and binary_parser.js: `getTextParser(fields, options, config)`, which query.js and execute.js
// call only without disableEval. As parser_cache.js (read by mysql2/promise's setMaxParserCache and
// clearParserCache): nothing is ever compiled here, so there is no cache to resize or clear.
module.exports = compiledParsersUnavailable
module.exports.getParser = compiledParsersUnavailable
module.exports.setMaxCache = () => {}
module.exports.clearCache = () => {}
