// Compiles the Python modules under a directory for Lambda's Python, with the CPython that
// Pyodide runs in WebAssembly (pinned in package.json): bytecode is specific to a Python minor
// version, and the build machine's own Python is another one.
//
//   node infra/bytecode.mjs DIR DDIR [SKIP]
//
// DIR is compiled in place into __pycache__/*.cpython-3XX.pyc, unchecked-hash (the files of a
// Lambda asset never change after the build); DDIR is where DIR will be on Lambda, for the
// file names tracebacks show; modules whose path matches the regular expression SKIP stay
// source only. Prints one JSON line: {"python": "3.12", "ok": true}.
import path from "node:path";
import { loadPyodide } from "pyodide";

const [dir, ddir, skip = ""] = process.argv.slice(2);
if (!dir || !ddir) {
  console.error("usage: node infra/bytecode.mjs DIR DDIR [SKIP]");
  process.exit(2);
}
const pyodide = await loadPyodide();
pyodide.FS.mkdirTree("/bundle");
pyodide.FS.mount(pyodide.FS.filesystems.NODEFS, { root: path.resolve(dir) }, "/bundle");
pyodide.globals.set("ddir", ddir);
pyodide.globals.set("skip", skip);
const report = pyodide.runPython(`
import compileall, json, py_compile, re, sys
ok = compileall.compile_dir(
    "/bundle",
    ddir=ddir,
    rx=re.compile(skip) if skip else None,
    quiet=1,
    invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
)
json.dumps({"python": "%d.%d" % sys.version_info[:2], "ok": bool(ok)})
`);
console.log(report);
