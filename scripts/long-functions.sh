#!/usr/bin/env bash
# Lists the functions over 80 lines (signature to closing brace) in the workspace's Rust code,
# outside tests: files under tests/, benches/ and fuzz/, and `#[cfg(test)]` modules, are left
# out. Exits 1 when there is one (the house rule: no function outside tests over 80 lines).
#
#   bash scripts/long-functions.sh [MAX]      (MAX: 80 unless given)
set -euo pipefail
cd "$(dirname "$0")/.."
max=${1:-80}
prog=$(
  cat <<'PY'
import re, sys

MAX = int(sys.argv[1])
FN = re.compile(r'^\s*(pub(\([^)]*\))?\s+)?((const|async|unsafe|extern\s+"[^"]*")\s+)*fn\s+([A-Za-z_][A-Za-z0-9_]*)')


def code_only(line, state):
    """The line without comments, strings and char literals (state: inside a block comment)."""
    out, i, n = [], 0, len(line)
    while i < n:
        if state['block']:
            j = line.find('*/', i)
            if j < 0:
                return ''.join(out)
            state['block'], i = False, j + 2
            continue
        c = line[i]
        if line.startswith('//', i):
            break
        if line.startswith('/*', i):
            state['block'], i = True, i + 2
            continue
        m = re.match(r'r(#*)"', line[i:]) if c == 'r' and (i == 0 or not line[i - 1].isalnum()) else None
        if m:
            end = '"' + m.group(1)
            j = line.find(end, i + len(m.group(0)))
            if j < 0:
                state['raw'] = end
                return ''.join(out)
            i = j + len(end)
            continue
        if c == '"':
            i += 1
            while i < n and line[i] != '"':
                i += 2 if line[i] == '\\' else 1
            if i >= n:
                state['str'] = True
            i += 1
            continue
        if c == "'":
            m = re.match(r"'(\\.|[^\\'])'|'\\u\{[0-9a-fA-F]+\}'|'\\x[0-9a-fA-F]{2}'", line[i:])
            if m:
                i += len(m.group(0))
                continue
        out.append(c)
        i += 1
    return ''.join(out)


def scan(path):
    lines = open(path, encoding='utf-8').read().split('\n')
    state = {'block': False, 'str': False, 'raw': None}
    depth = 0
    stack = []  # (name, start line, depth at which its body opened)
    skip_depth = None  # inside a #[cfg(test)] item: the depth it opened at
    pending_test = False
    pending_fn = None
    found = []
    for no, raw in enumerate(lines, 1):
        line = raw
        if state['str']:
            j = -1
            k = 0
            while k < len(line):
                if line[k] == '\\':
                    k += 2
                    continue
                if line[k] == '"':
                    j = k
                    break
                k += 1
            if j < 0:
                continue
            state['str'] = False
            line = line[j + 1:]
        if state['raw']:
            j = line.find(state['raw'])
            if j < 0:
                continue
            line = line[j + len(state['raw']):]
            state['raw'] = None
        code = code_only(line, state)
        if re.match(r'\s*#\[cfg\(test\)\]', code):
            pending_test = True
        m = FN.match(code)
        if m and skip_depth is None:
            pending_fn = (m.group(5), no)
        for c in code:
            if c == '{':
                depth += 1
                if pending_test and skip_depth is None:
                    skip_depth = depth
                    pending_test = False
                if pending_fn:
                    stack.append((pending_fn[0], pending_fn[1], depth))
                    pending_fn = None
            elif c == '}':
                if stack and stack[-1][2] == depth:
                    name, start, _ = stack.pop()
                    length = no - start + 1
                    if length > MAX:
                        found.append((length, name, start))
                if skip_depth == depth:
                    skip_depth = None
                depth -= 1
            elif c == ';':
                # A declaration without a body (a trait method), or a test item that was a `use`.
                if pending_fn and not stack or (pending_fn and stack and stack[-1][2] == depth):
                    pending_fn = None
                if pending_test and skip_depth is None:
                    pending_test = False
    return found


bad = 0
for path in sys.stdin.read().split():
    for length, name, start in scan(path):
        print(f'{path}:{start}: fn {name}: {length} lines')
        bad += 1
if bad:
    print(f'{bad} function(s) over {MAX} lines')
    sys.exit(1)
print(f'no function over {MAX} lines')
PY
)
git ls-files '*.rs' | grep -Ev '(^|/)(tests|benches|fuzz)/' | python3 -c "$prog" "$max"
