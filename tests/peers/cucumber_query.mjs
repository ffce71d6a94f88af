// The reference reading of a cucumber messages file: cucumber's own @cucumber/query (pinned in
// tests/peers/package.json). Prints {counts, success, finished} for the differential test in
// tests/report_semantics.rs. Usage: node cucumber_query.mjs FILE.ndjson
import { readFileSync } from 'node:fs'
import { Query } from '@cucumber/query'

const query = new Query()
for (const line of readFileSync(process.argv[2], 'utf8').split('\n')) {
  if (line.trim() !== '') query.update(JSON.parse(line))
}
const counts = Object.fromEntries(
  Object.entries(query.countMostSevereTestStepResultStatus()).filter(([, n]) => n > 0),
)
const finished = query.findTestRunFinished()
console.log(JSON.stringify({ counts, success: finished?.success ?? null, finished: finished !== undefined }))
