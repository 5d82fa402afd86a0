// A reporter for node's test runner (scripts/test.js --timings): the seconds each test file
// took, as the sum of its top-level tests (they run one after another within a file), as one
// JSON object keyed by the file's path.
export default async function* timings(source) {
  const seconds = {};
  for await (const event of source) {
    if ((event.type === 'test:pass' || event.type === 'test:fail') && event.data.nesting === 0 && event.data.file) {
      seconds[event.data.file] = (seconds[event.data.file] ?? 0) + event.data.details.duration_ms / 1000;
    }
  }
  for (const file of Object.keys(seconds)) seconds[file] = Math.round(seconds[file] * 10) / 10;
  yield JSON.stringify(seconds) + '\n';
}
