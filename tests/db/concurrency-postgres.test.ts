import { describeConcurrentRunners } from './concurrency-suite.js'

describeConcurrentRunners('postgres')
