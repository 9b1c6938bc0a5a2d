#!/usr/bin/env bash
# Sequential sweeps (--until-decided) of the extrapolation study and of the
# article, at a scale of seconds: looks at 3 and 6 seeds; only the series
# behind the claims still undecided at look 1 get seeds 4..6, the report
# names the look of each claim, a second call resumes, and the fixed design
# (a plain sweep or collect) is untouched by the extra runs. The article
# hands a sequential state to its extrapolation part.
source "$(dirname "$0")/common.sh"
# copy only, learned and RoPE, p-RoPE at a base these lengths turn: one claim
# decided, one futile, two not testable on this recipe (lr=3e-3)
X=(scale=tiny tasks=copy encodings=learned,rope seeds=3 samples=32 finetune_steps=20 lr=3e-3 prope_base=20)
A=(--until-decided --max-seeds 6)
D=$TMP/seq/extrapolation

"$PB" sweep "$STUDY" "${X[@]}" root="$TMP/seq" --local 2 >"$TMP/plain.log" 2>&1
check "the plain sweep finishes" test $? -eq 0
mkdir -p "$TMP/plain"
for f in $OUTPUTS; do cp "$D/$f" "$TMP/plain/"; done
check "the plain report names no look" bash -c "! grep -q 'look 1' '$D/report.md'"

"$PB" sweep "$STUDY" "${X[@]}" root="$TMP/seq" "${A[@]}" --local 2 >"$TMP/seq.log" 2>&1
check "--until-decided --local finishes" test $? -eq 0
check "looks 3, 6 taken up to look 2" grep -q '"look":2,"looks":\[3,6\]' "$D/sequential.json"

# The claims undecided at look 1 are those whose test reads look 2; their
# series (named in the evidence) must be exactly the state's, every series
# of the state must have its runs at seed 6, and no other run a seed above 3.
python3 - "$D" >"$TMP/series.log" 2>&1 <<'EOF'
import json, os, re, sys
d = sys.argv[1]
state = json.load(open(os.path.join(d, "sequential.json")))
report = open(os.path.join(d, "report.md")).read()
looked = re.findall(r"(decided|futile|undecided|not testable)[^;]*? at (?:the last look, )?look (\d) of 2 "
                    r"\(n <= \d+ seeds\); series ([^)]*)\)", report)
assert len(looked) == 4, "four claims with their look, got %r" % (looked,)
at2 = sorted({s for _, k, series in looked if k == "2" for s in series.split(", ")})
assert at2, "no claim went to look 2: the test checks nothing"
assert sorted(state["seeds"]) == at2, "state %s, series of the look-2 claims %s" % (state["seeds"], at2)
assert all(n == 6 for n in state["seeds"].values()), state["seeds"]
runs = [r for r in os.listdir(d) if os.path.isfile(os.path.join(d, r, "summary.json"))]
def series_of(run):
    m = re.match(r"(?:prope|ropebase|scaling)-(\w+)-s\d+$", run)
    return "scaling-" + m.group(1) if m else re.sub(r"-s\d+$", "", run)
extra = sorted({series_of(r) for r in runs if int(r.rsplit("-s", 1)[1]) > 3})
assert set(extra) == set(at2), "runs beyond seed 3 in series %s, undecided series %s" % (extra, at2)
for s in at2:
    assert any(series_of(r) == s and r.endswith("-s6") for r in runs), "series %s has no seed 6" % s
everything = {series_of(r) for r in runs}
assert everything - set(at2), "every series got seeds: the test cannot tell"
print("ok", at2, extra)
EOF
check "only the series of the claims undecided at look 1 got seeds 4..6" test $? -eq 0 || cat "$TMP/series.log"
check "a claim decided at look 2 is reported so" grep -q "decided at look 2 of 2 (n <= 6 seeds)" "$D/report.md"
check "the report states the looks and the spending" grep -q "looks at 3, 6 seeds, pocock alpha spending" "$D/report.md"

cp "$D/report.md" "$TMP/seq-report.md"
"$PB" sweep "$STUDY" "${X[@]}" root="$TMP/seq" "${A[@]}" --local 2 >"$TMP/again.log" 2>&1
check "a second call resumes at look 2" grep -q "look 2 of 2" "$TMP/again.log"
check "... runs nothing" bash -c "! grep -q 'finished in' '$TMP/again.log'"
check "... and writes the same report" cmp -s "$TMP/seq-report.md" "$D/report.md"

"$PB" collect "$STUDY" "${X[@]}" root="$TMP/seq" >"$TMP/collect.log" 2>&1
check "a plain collect after the looks exits 0" test $? -eq 0
check "... and writes the plain sweep's outputs, byte for byte" \
    bash -c "for f in $OUTPUTS; do cmp '$TMP/plain/'\$f '$D/'\$f || exit 1; done"

# The article passes the state (series "part:series") to its extrapolation
# part: at look 2 of 2, 4 seeds for the scaling block of copy.
mkdir -p "$TMP/art/article"
echo '{"look":2,"looks":[2,4],"seeds":{"extrapolation:scaling-copy":4}}' >"$TMP/art/article/sequential.json"
"$PB" sweep article scale=tiny parts=extrapolation results="$TMP/art" --until-decided --max-seeds 4 --plan \
    >"$TMP/art-plan.log" 2>&1
check "the article's plan at look 2 gives the scaling block and its RoPE checkpoints seeds 3 and 4" \
    bash -c "grep -q 'scaling-copy-s4 ' '$TMP/art-plan.log' && grep -q 'prope-copy-s4 ' '$TMP/art-plan.log' &&
             grep -q 'copy-rope-s4 ' '$TMP/art-plan.log'"
check "... and nothing else" bash -c "! grep -q -e 'copy-alibi-s3 ' -e 'lm-rope-s3 ' '$TMP/art-plan.log'"
"$PB" sweep article scale=tiny parts=extrapolation results="$TMP/art" --until-decided --max-seeds 4 --local 2 \
    >"$TMP/art.log" 2>&1
check "the article's sequential sweep finishes" test $? -eq 0
check "the article's report names the look of the extrapolation claims" \
    grep -q "look 1 of 2 (n <= 2 seeds); series" "$TMP/art/article/report.md"
"$PB" sweep article scale=tiny parts=properties results="$TMP/art" --until-decided --plan >"$TMP/noseeds.log" 2>&1
status=$?
check "an article without a part that adds seeds refuses --until-decided" \
    bash -c "test $status -eq 2 && grep -q 'no seeds to add' '$TMP/noseeds.log'"
finish
