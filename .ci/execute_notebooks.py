"""Execute the notebooks in their default configuration and save them with their outputs, as they are committed.

Run (from the repository root, in the project's venv):

    python .ci/execute_notebooks.py                  # every notebook in nbs/
    python .ci/execute_notebooks.py nbs/05_config.ipynb nbs/10_recipes.ipynb

Cells are skipped exactly as `nbdev_test` skips them (the `tst_flags` of settings.ini: `#| slow`, `#| extra`,
`#| notest`; `#| eval: false`; the closing `nbdev_export()` cell). A skipped cell keeps the outputs it has, so a
study's real-run results, executed once with `nbdev_test --flags slow` or by hand, stay in the notebook. Each notebook
runs in its own folder with one torch thread, as the tests do, and is then cleaned with `nbdev_clean` (execution
counts and metadata go; outputs stay). A notebook that raises is left unchanged and the script exits non-zero.
"""
import argparse, configparser, os, sys, time
from pathlib import Path

os.environ.setdefault('OMP_NUM_THREADS', '1')
os.environ.setdefault('MPLBACKEND', 'Agg')

from execnb.nbio import read_nb, write_nb
from execnb.shell import CaptureShell
from fastcore.xtras import working_directory
from nbdev.clean import nbdev_clean

ROOT = Path(__file__).resolve().parent.parent


def skip_flags() -> set:
    config = configparser.ConfigParser()
    config.read(ROOT/'settings.ini')
    return set(config['DEFAULT'].get('tst_flags', '').split())


def directives(source: str) -> dict:
    "The `#| name args` lines at the top of a cell, as {name: args}."
    found = {}
    for line in source.splitlines():
        if not line.startswith('#|'):
            if line.strip(): break
            continue
        name, _, args = line[2:].strip().partition(' ')
        found[name.rstrip(':')] = args.strip()
    return found


def skipped(cell, flags: set) -> bool:
    if cell.cell_type != 'code': return True
    if 'nbdev_export' + '(' in cell.source: return True
    found = directives(cell.source)
    return found.get('eval', '').lower() == 'false' or bool(flags & found.keys())


def execute(path: Path, flags: set) -> float:
    "Run `path`'s default cells and write it back with their outputs; the seconds it took."
    nb = read_nb(path)
    shell = CaptureShell(path, mpl_format='png')  # not retina: figures at their own dpi keep the repository lean
    start = time.perf_counter()
    with working_directory(path.parent):
        shell.run_all(nb, exc_stop=True, preproc=lambda cell: skipped(cell, flags))
    write_nb(nb, path)
    nbdev_clean(fname=str(path))
    return time.perf_counter() - start


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('notebooks', nargs='*', type=Path, help='default: every nbs/*.ipynb')
    args = p.parse_args()
    notebooks = args.notebooks or sorted((ROOT/'nbs').glob('*.ipynb'))
    flags, failed = skip_flags(), []
    for path in notebooks:
        try: print(f"{path.name}: {execute(path.resolve(), flags):.0f} s", flush=True)
        except Exception as e:
            failed.append(path.name)
            print(f"{path.name}: FAILED ({type(e).__name__}: {e}); left unchanged", file=sys.stderr, flush=True)
    if failed: sys.exit(f"{len(failed)} notebook(s) failed: {', '.join(failed)}")


if __name__ == '__main__':
    main()
