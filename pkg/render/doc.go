/*
Package render is brine's SLS front end.

# Pipeline

SLS renders a state file through its renderer pipeline: jinja|yaml by
default, or what a "#!" first line names (jinja, yaml, yamlex, json, in any
"|" combination, spaces around "|" allowed, Salt's old yaml_jinja names
too; a "#!/" interpreter line selects nothing). A pipeline must end in a
data renderer. Jinja renders one template (a state file or a
file.managed source). Decode turns the parsed YAML into Go values with the
scalar rules Salt's loader applies (YAML 1.1 as PyYAML reads it: yes/no/
on/off are bools, 1:30 is 90, 1e3 is a string, and an integer with leading
zeros keeps its digits, 0644 -> 644).

# Jinja

Templates see grains, pillar, opts, saltenv, env, sls, slspath, sls_path,
slsdotpath, slscolonpath, tplpath, tplfile, tpldir, tpldot and salt, where
salt['mod.fn'](args, key=value) and salt.mod.fn(...) call the execution
module registry. Whitespace follows Salt's defaults (trim_blocks and
lstrip_blocks off, the SLS's own final newline kept, an included or parent
template's dropped). Undefined names render empty;
looking up an attribute of an undefined value is an error.

Statements beyond Jinja's own: import_yaml, import_json, import_text,
load_yaml/load_json/load_text ... endload. import, from ... import and
include (and extends) resolve names against the file roots ("./" and
"../" against the importing template) and from-import exports variables as well as macros.
set accepts tuple targets ({% set a, b = 1, 2 %}). A macro whose body
mentions varargs or kwargs receives its extra positional and keyword
arguments under those names, as in Jinja.

Dicts and lists behave as Python's: shared references whose update,
setdefault, append, extend, pop, ... mutate in place, so {% do %} works as
formulas expect. The %, *, /, // and ** operators follow Python (string
formatting with %, repetition, true and floor division, integer powers).

Filters: Salt's yaml, json, tojson, load_yaml, load_json, traverse,
regex_replace, regex_search, regex_match, unique, path_join, yaml_dquote,
yaml_squote, yaml_encode, to_bool, sequence, is_list, quote, md5, sha1,
sha256, sha512, base64_encode, base64_decode, union, intersect,
difference, symmetric_difference, flatten, is_ip, is_ipv4, is_ipv6,
ipaddr, ipv4, ipv6, avg, is_iter, exactly_one_true, exactly_n_true,
basename, dirname; Jinja's own as gonja provides them, with dictsort,
items, list, string, format, min and max reimplemented. Tests: Jinja's plus
match and list. Globals: range (a list, bounded), raise, dict, namespace,
cycler, joiner.

# Limits

Regular expressions are RE2 (no lookaround, no backreferences in the
pattern). {{ x }} prints a defined None as "None" (a call's result, the
none literal, a variable, a key or index that exists) and an undefined
value as nothing; a None inside a longer expression ({{ x or y }}, a
filter's result) and a macro argument left out print nothing. Python string methods are those gonja implements. Rendering is bounded: range()
to 100000 items, repetition to 16 MiB, padding widths to 100000, template
nesting and macro recursion to 64 levels.
*/
package render
