#!/usr/bin/env node
// Reads the per-file TAP streams that run.sh captured from node-tap
// (<out>/<runtime>/<name>.tap, .stderr, .rc), counts assertions the way
// node-tap does, adds the failures node-tap cannot see, prints the report,
// and checks berth's failures against expected-failures.txt.
//
// Counting, per .t file:
//   ok      test points that passed (skips and todos excluded)
//   not ok  test points that failed, plus one "(exit code N)"-style failure
//           when the file failed without a failing test point (node-tap
//           counts such a file as one failure too)
//   skip    skipped test points
//   hidden  YAML blocks with an `error` key that belong to no test point:
//           the hook tests report failure only that way, with a 1..0 plan,
//           which node-tap reads as a skipped file
'use strict'

const fs = require('fs')
const path = require('path')

function parseArgs (argv) {
  const a = { runtimes: [], ci: false, updateExpected: false }
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]
    const v = () => argv[++i]
    switch (k) {
      case '--out': a.out = v(); break
      case '--tapdir': a.tapdir = v(); break
      case '--expected': a.expected = v(); break
      case '--tests': a.tests = v().split(',').filter(Boolean); break
      case '--runtime': a.runtimes.push(v()); break
      case '--ci': a.ci = true; break
      case '--update-expected': a.updateExpected = true; break
      default: throw new Error('report.js: unknown argument ' + k)
    }
  }
  return a
}

const args = parseArgs(process.argv.slice(2))
const Parser = require(path.join(args.tapdir, 'node_modules', 'tap-parser'))
const yaml = require(path.join(args.tapdir, 'node_modules', 'tap-yaml'))

// ------------------------------------------------------------ parsing

// Names are the assertion's identity, so take out what could differ between
// runs: uuids (container ids) and long digit runs (temp names).
function normalizeName (s) {
  return String(s || '')
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, '<uuid>')
    .replace(/\d{6,}/g, '<n>')
    .replace(/\s+/g, ' ')
    .trim()
}

function stripAnsi (s) {
  return String(s).replace(/\x1b\[[0-9;]*[A-Za-z]/g, '')
}

function tail (s, maxLines, maxChars) {
  let lines = stripAnsi(s).replace(/\s+$/, '').split('\n')
  if (lines.length > maxLines) lines = ['[...]'].concat(lines.slice(-maxLines))
  let out = lines.join('\n')
  if (out.length > maxChars) out = '[...]' + out.slice(-maxChars)
  return out
}

// Orphan YAML: tap-parser hands unattached lines to 'extra'. Pull out the
// ---/... blocks and parse them.
function yamlBlocks (lines) {
  const blocks = []
  let cur = null
  for (const raw of lines) {
    const line = raw.replace(/\n$/, '')
    if (cur === null) {
      if (/^\s*---\s*$/.test(line)) cur = []
    } else if (/^\s*\.\.\.\s*$/.test(line)) {
      const ind = Math.min(...cur.filter(l => l.trim()).map(l => l.match(/^ */)[0].length), 1e9)
      const text = cur.map(l => l.slice(Math.min(ind, l.match(/^ */)[0].length))).join('\n')
      let obj = null
      try { obj = yaml.parse(text) } catch (_) {
        try { obj = JSON.parse(text) } catch (_) { obj = { unparsed: text } }
      }
      blocks.push(obj)
      cur = null
    } else {
      cur.push(line)
    }
  }
  return blocks
}

function parseTap (text) {
  return new Promise((resolve) => {
    const fileResults = [] // depth 0: node-tap's verdict on the file
    const asserts = [] // depth 1: the .t program's own test points
    const extras = []
    let deeper = 0
    const root = new Parser()
    const hook = (p, depth) => {
      p.on('assert', r => {
        if (depth === 0) fileResults.push(r)
        else if (depth === 1) asserts.push(Object.assign(r, { comments: [] }))
        else deeper++
      })
      // tap-go's diagnostics ("# expect: x, actual: y") follow their test point
      p.on('comment', c => {
        if (depth !== 1 || !asserts.length) return
        if (/^#\s*(Subtest:|test count\(|failed \d+|skip: \d|todo: \d|time=)/.test(c)) return
        asserts[asserts.length - 1].comments.push(c.replace(/^#\s?/, '').replace(/\n$/, ''))
      })
      p.on('extra', d => extras.push(d))
      p.on('child', c => hook(c, depth + 1))
    }
    hook(root, 0)
    root.on('complete', () => resolve({ fileResults, asserts, extras, deeper }))
    root.end(text)
  })
}

function readMaybe (f) {
  try { return fs.readFileSync(f, 'utf8') } catch (_) { return '' }
}

async function loadFile (rt, name) {
  const base = path.join(args.out, rt, name)
  const tapText = readMaybe(base + '.tap')
  const stderr = readMaybe(base + '.stderr')
  const [rcStr, msStr] = readMaybe(base + '.rc').trim().split(/\s+/)
  const rc = rcStr === undefined || rcStr === '' ? null : Number(rcStr)
  const { fileResults, asserts, extras } = await parseTap(tapText)

  const file = name + '.t'
  const res = { file, rc, ms: Number(msStr) || 0, ok: 0, notOk: 0, skip: 0, todo: 0, hidden: 0, failures: [], passes: [] }
  const seen = new Map()
  const ident = (desc) => {
    const n = (seen.get(desc) || 0) + 1
    seen.set(desc, n)
    return n === 1 ? desc : `${desc} [#${n}]`
  }

  for (const a of asserts) {
    const desc = ident(normalizeName(a.name) || `(unnamed test point ${a.id})`)
    if (a.todo) { res.todo++; continue }
    if (a.skip) { res.skip++; continue }
    if (a.ok) { res.ok++; res.passes.push(desc); continue }
    res.notOk++
    const diag = Object.assign({}, a.diag || {})
    if (a.comments.length) diag.comment = a.comments.join('\n')
    res.failures.push({ desc, kind: 'assertion', id: a.id, diag: Object.keys(diag).length ? diag : null })
  }

  // The hook tests: an `error` block outside any test point, plan 1..0.
  for (const b of yamlBlocks(extras)) {
    if (!b || typeof b !== 'object' || b.error === undefined) continue
    const first = String(b.error).split('\n')[0]
    res.hidden++
    res.failures.push({
      desc: ident(normalizeName(first) || '(error block)'),
      kind: 'hidden',
      diag: Object.assign({}, b, stderr.trim() ? { 'stderr of the test': tail(stderr, 12, 1500) } : {})
    })
  }

  // A file that failed without a failing test point (non-zero exit, no
  // output) counts as one failure, as node-tap counts it; a file that was
  // killed (timeout) or whose output ended without a plan counts as one
  // failure even after failing test points, since the rest never ran.
  const fr = fileResults[0]
  const failedAsserts = res.failures.some(f => f.kind === 'assertion')
  let why = null
  let d = {}
  if (!fr) {
    why = rc === 124 || rc === 137 ? '(killed by the harness timeout)' : `(no result from node-tap, exit ${rc})`
    d = { 'harness exit': rc }
  } else if (!fr.ok && !fr.todo) {
    d = pick(fr.diag || {}, ['exitCode', 'signal', 'timeout'])
    const noPlan = ((fr.diag || {}).failures || []).some(f => f && f.tapError === 'no plan')
    const code = d.exitCode === undefined || d.exitCode === null ? null : d.exitCode
    if (d.signal) why = `(killed by ${d.signal})`
    else if (noPlan) why = `(no plan${code === null ? '' : ', exit code ' + code})`
    else if (!failedAsserts) why = code === null ? '(file failed)' : `(exit code ${code})`
  }
  if (why) {
    res.notOk++
    if (stderr.trim()) d.stderr = tail(stderr, 15, 2000)
    res.failures.push({ desc: ident(why), kind: 'file', diag: d })
  }
  res.noAssertions = asserts.length === 0
  return res
}

function pick (o, keys) {
  const r = {}
  for (const k of keys) if (o[k] !== undefined) r[k] = o[k]
  return r
}

// ------------------------------------------------------------ expected failures

// One entry a line:  FILE.t | ASSERTION DESCRIPTION | REASON
// The description is everything between the first and the last " | ".
function loadExpected (f) {
  const entries = new Map()
  const header = []
  let inHeader = true
  let text = ''
  try { text = fs.readFileSync(f, 'utf8') } catch (_) { return { entries, header, missing: true } }
  for (const line of text.split('\n')) {
    if (/^\s*(#|$)/.test(line)) {
      if (inHeader) header.push(line)
      continue
    }
    inHeader = false
    const first = line.indexOf(' | ')
    const last = line.lastIndexOf(' | ')
    if (first < 0 || last === first) {
      console.error(`report.js: ignoring malformed line in ${f}: ${line}`)
      continue
    }
    const file = line.slice(0, first).trim()
    const desc = normalizeName(line.slice(first + 3, last))
    entries.set(`${file} | ${desc}`, { file, desc, reason: line.slice(last + 3).trim() })
  }
  return { entries, header, missing: false }
}

// ------------------------------------------------------------ output

const out = []
const p = (...s) => out.push(s.join(' '))

function fmtDiag (diag, indent) {
  if (!diag) return []
  const keys = Object.keys(diag)
  const order = ['error', 'comment', 'actual', 'expected', 'stderr', 'stderr of the test', 'exitCode', 'signal']
  keys.sort((a, b) => {
    const ia = order.indexOf(a); const ib = order.indexOf(b)
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib)
  })
  const lines = []
  for (const k of keys) {
    if (k === 'reference' || k === 'level') continue
    let v = diag[k]
    if (typeof v !== 'string') v = JSON.stringify(v)
    v = stripAnsi(v).replace(/\s+$/, '')
    if (v.length > 1500) v = v.slice(0, 1500) + ' [...]'
    const vl = v.split('\n')
    if (vl.length === 1) lines.push(`${indent}${k}: ${v}`)
    else {
      lines.push(`${indent}${k}: |`)
      for (const l of vl.slice(0, 20)) lines.push(`${indent}  ${l}`)
      if (vl.length > 20) lines.push(`${indent}  [... ${vl.length - 20} more lines]`)
    }
  }
  if (diag.level || diag.reference) lines.push(`${indent}(${[diag.level, diag.reference].filter(Boolean).join(' ')})`)
  return lines
}

const pad = (s, n) => String(s).padEnd(n)
const lpad = (s, n) => String(s).padStart(n)

function totals (files) {
  const t = { ok: 0, notOk: 0, skip: 0, hidden: 0, todo: 0 }
  for (const f of files) for (const k of Object.keys(t)) t[k] += f[k]
  return t
}

async function main () {
  const results = {}
  for (const rt of args.runtimes) {
    results[rt] = []
    for (const name of args.tests) results[rt].push(await loadFile(rt, name))
  }
  const W = Math.max(...args.tests.map(n => n.length + 2), 10) + 2

  // Per-runtime tables
  for (const rt of args.runtimes) {
    const files = results[rt]
    const version = readMaybe(path.join(args.out, rt, 'VERSION')).split('\n')[0]
    p('')
    p(`== ${rt}${version ? ' (' + version + ')' : ''}`)
    p(pad('test file', W) + lpad('ok', 6) + lpad('not ok', 8) + lpad('skip', 6) + lpad('hidden', 8) + lpad('time', 8))
    for (const f of files) {
      p(pad(f.file, W) + lpad(f.ok, 6) + lpad(f.notOk, 8) + lpad(f.skip, 6) + lpad(f.hidden, 8) + lpad((f.ms / 1000).toFixed(1) + 's', 8))
    }
    const t = totals(files)
    p(pad('TOTAL', W) + lpad(t.ok, 6) + lpad(t.notOk, 8) + lpad(t.skip, 6) + lpad(t.hidden, 8))
    p(`${rt}: ${t.ok} assertions ok, ${t.notOk} not ok (+${t.hidden} hidden hook failures), ${t.skip} skipped, in ${files.length} files`)
  }

  // Side by side
  if (args.runtimes.length > 1) {
    const [a, b] = args.runtimes
    p('')
    p(`== ${a} vs ${b}: ok / not ok / hidden per file (* where they differ)`)
    const cw = 18
    p(pad('test file', W) + lpad(a, cw) + lpad(b, cw))
    for (let i = 0; i < args.tests.length; i++) {
      const fa = results[a][i]; const fb = results[b][i]
      const sa = `${fa.ok} / ${fa.notOk} / ${fa.hidden}`
      const sb = `${fb.ok} / ${fb.notOk} / ${fb.hidden}`
      p(pad(fa.file, W) + lpad(sa, cw) + lpad(sb, cw) + (sa !== sb ? '  *' : ''))
    }
    const ta = totals(results[a]); const tb = totals(results[b])
    p(pad('TOTAL', W) + lpad(`${ta.ok} / ${ta.notOk} / ${ta.hidden}`, cw) + lpad(`${tb.ok} / ${tb.notOk} / ${tb.hidden}`, cw))

    const failSet = (rt) => new Set(results[rt].flatMap(f => f.failures.map(x => `${f.file} | ${x.desc}`)))
    const passSet = (rt) => new Set(results[rt].flatMap(f => f.passes.map(x => `${f.file} | ${x}`)))
    const fa = failSet(a); const fb = failSet(b); const pb = passSet(b); const pa = passSet(a)
    const onlyA = [...fa].filter(x => !fb.has(x))
    const onlyB = [...fb].filter(x => !fa.has(x))
    p('')
    p(`${a} fails, ${b} does not (${onlyA.length}):`)
    for (const x of onlyA) p(`  ${x}${pb.has(x) ? '' : `   [${b}: no such test point]`}`)
    p(`${b} fails, ${a} does not (${onlyB.length}):`)
    for (const x of onlyB) p(`  ${x}${pa.has(x) ? '' : `   [${a}: no such test point]`}`)
  }

  // berth's failures in full
  let ciRc = 0
  if (results.berth) {
    const files = results.berth
    const t = totals(files)
    p('')
    p(`== berth failing assertions (${t.notOk + t.hidden}), by file`)
    for (const f of files) {
      if (!f.failures.length) continue
      p('')
      p(`${f.file}  (${f.ok} ok, ${f.notOk} not ok, ${f.hidden} hidden)`)
      for (const x of f.failures) {
        const tag = x.kind === 'hidden' ? 'not ok (hidden: error block, no test point)' : x.kind === 'file' ? 'not ok (file)' : `not ok ${x.id}`
        p(`  ${tag} - ${x.desc}`)
        for (const l of fmtDiag(x.diag, '      ')) p(l)
      }
    }

    // expected-failures.txt
    const exp = loadExpected(args.expected)
    const ran = new Set(files.map(f => f.file))
    const current = []
    for (const f of files) for (const x of f.failures) current.push({ file: f.file, desc: x.desc, key: `${f.file} | ${x.desc}` })
    const unexpected = current.filter(c => !exp.entries.has(c.key))
    const fixed = [...exp.entries.values()].filter(e => ran.has(e.file) && !current.some(c => c.key === `${e.file} | ${e.desc}`))
    p('')
    p(`== berth vs ${path.relative(process.cwd(), args.expected) || args.expected}`)
    if (exp.missing) p('  (file missing: every failure is unexpected)')
    p(`failures not listed there (regressions) (${unexpected.length}):`)
    for (const c of unexpected) p(`  ${c.key}`)
    p(`listed failures that passed this run (remove them unless flaky) (${fixed.length}):`)
    for (const e of fixed) p(`  ${e.file} | ${e.desc}`)

    if (args.updateExpected) {
      const header = exp.header.length ? exp.header : defaultHeader()
      const lines = header.slice()
      if (lines.length && lines[lines.length - 1].trim() !== '') lines.push('')
      // entries for files not run this time stay as they were
      const kept = [...exp.entries.values()].filter(e => !ran.has(e.file))
      const fresh = current.map(c => ({ file: c.file, desc: c.desc, reason: (exp.entries.get(c.key) || {}).reason || 'TODO: not yet diagnosed' }))
      const all = kept.concat(fresh)
      const order = args.tests.map(n => n + '.t')
      all.sort((x, y) => order.indexOf(x.file) - order.indexOf(y.file))
      for (const e of all) lines.push(`${e.file} | ${e.desc} | ${e.reason}`)
      fs.writeFileSync(args.expected, lines.join('\n') + '\n')
      p(`wrote ${all.length} entries to ${args.expected}`)
    }

    if (args.ci) {
      p('')
      p(`known failures (expected-failures.txt): ${current.length - unexpected.length}`)
      p(`conformance: ${t.ok} passed, ${unexpected.length} failed, ${t.skip} skipped`)
      if (unexpected.length) ciRc = 1
    } else {
      p('')
      p(`berth: ${t.ok} passed, ${t.notOk + t.hidden} failed, ${t.skip} skipped`)
    }
  }

  // machine-readable
  const json = {}
  for (const rt of args.runtimes) {
    json[rt] = { totals: totals(results[rt]), files: results[rt].map(f => ({ file: f.file, rc: f.rc, ms: f.ms, ok: f.ok, notOk: f.notOk, skip: f.skip, hidden: f.hidden, failures: f.failures })) }
  }
  fs.writeFileSync(path.join(args.out, 'results.json'), JSON.stringify(json, null, 2) + '\n')
  process.stdout.write(out.join('\n') + '\n')
  process.exitCode = ciRc
}

function defaultHeader () {
  return [
    '# Known berth failures in the OCI runtime conformance suite (runtime-tools validation/*.t).',
    '# run.sh --ci fails only on a failure that is not listed here.',
    '#',
    '# One entry a line:  FILE.t | ASSERTION DESCRIPTION | REASON',
    '# The description is the test point\'s text as the suite prints it ([#N] marks its Nth',
    '# occurrence in the file); "(exit code N)" / "(killed by SIG)" stand for a file that',
    '# failed without a failing test point; a hook test\'s hidden failure is its error text.',
    '# Regenerate with: bash tests/conformance/run.sh --update-expected (reasons are kept).',
    ''
  ]
}

main().catch(e => { console.error(e && e.stack || e); process.exit(2) })
