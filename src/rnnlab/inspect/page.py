"""inspect.html: one self-contained page (inline CSS, JS and data; no server, no network).

The data sits in `<script type="application/json" id="inspect-data">` (the payload that
`build_payload` in report.py makes), so a test or a user can read it back with
`read_payload(html)`. The script draws from it: the text coloured by a chosen unit, the
same text coloured by surprisal, the found units (a click shows one), and one inline SVG
scatter of gate saturation per layer and gate.
"""

from __future__ import annotations

import html
import json
import re

_DATA_ID = "inspect-data"

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:1.5em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.4em;margin:.2em 0}h2{font-size:1.15em;margin:1.4em 0 .4em;border-bottom:1px solid #ddd}
.meta{color:#555}.meta b{color:#222}
.text{font:13px/1.6 ui-monospace,monospace;white-space:pre-wrap;word-break:break-all;border:1px solid #ddd;
 padding:.6em;max-height:26em;overflow:auto;background:#fff}
.sym{cursor:default;border-radius:2px}.sym:hover{outline:1px solid #000}
#tip{position:fixed;display:none;background:#fffff4;border:1px solid #999;padding:.4em .6em;font:12px ui-monospace,
 monospace;pointer-events:none;box-shadow:2px 2px 6px #0003;z-index:9;white-space:pre}
table{border-collapse:collapse}td,th{padding:2px 8px;border-bottom:1px solid #eee;text-align:left}
tr.found-unit{cursor:pointer}tr.found-unit:hover{background:#eef}.note{color:#666;font-size:.92em}
.scatters{display:flex;flex-wrap:wrap;gap:12px}.scatters figure{margin:0}.scatters figcaption{font-size:12px}
select{margin-right:.6em}
"""

JS = r"""
(function(){
const D = JSON.parse(document.getElementById('inspect-data').textContent);
const N = D.symbols.length;
function shown(s){ if(s==='\n') return '\u21b5\n'; if(s==='\t') return '\u2192'; return s; }
function label(s){ return JSON.stringify(s); }
function build(id){
  const box = document.getElementById(id); const frag = document.createDocumentFragment();
  const spans = [];
  for(let i=0;i<N;i++){
    const sp = document.createElement('span'); sp.className='sym'; sp.dataset.i=i;
    let s = shown(D.symbols[i]);
    if(D.kind==='word'){ s = s + (D.symbols[i]===D.line_end ? '\n' : ' '); }
    sp.textContent = s; frag.appendChild(sp); spans.push(sp);
  }
  box.appendChild(frag); return spans;
}
const unitSpans = build('text-units'), lossSpans = build('text-loss');
const tip = document.getElementById('tip');
let current = null;
function fmt(x){ return x===null||x===undefined ? 'n/a' : Number(x).toFixed(3); }
function showTip(ev){
  const t = ev.target; if(!t.dataset || t.dataset.i===undefined) return;
  const i = +t.dataset.i;
  let lines = ['symbol ' + label(D.symbols[i]) + '  (#' + i + ')'];
  lines.push(D.loss[i]===null ? 'loss: n/a (the first symbol: nothing predicted it)'
                              : 'loss: ' + fmt(D.loss[i]) + ' nats');
  if(current) lines.push('unit ' + current.name + ': ' + fmt(current.values[i]));
  lines.push('next symbol, top 5:');
  for(let k=0;k<D.top.ids[i].length;k++){
    lines.push('  ' + label(D.top.symbols[D.top.ids[i][k]]).padEnd(14) + ' ' + fmt(D.top.probs[i][k]));
  }
  tip.textContent = lines.join('\n'); tip.style.display='block';
  tip.style.left = Math.min(ev.clientX + 14, window.innerWidth - 260) + 'px';
  tip.style.top = Math.min(ev.clientY + 14, window.innerHeight - 180) + 'px';
}
function hideTip(){ tip.style.display='none'; }
for(const id of ['text-units','text-loss']){
  const box = document.getElementById(id);
  box.addEventListener('mouseover', showTip); box.addEventListener('mousemove', showTip);
  box.addEventListener('mouseleave', hideTip);
}
function colourUnits(u){
  current = u; let scale = 1e-6;
  for(const v of u.values) scale = Math.max(scale, Math.abs(v));
  for(let i=0;i<N;i++){
    const v = u.values[i] / scale, a = Math.min(1, Math.abs(v)).toFixed(3);
    unitSpans[i].style.backgroundColor = v >= 0 ? 'rgba(214,39,40,'+a+')' : 'rgba(31,119,180,'+a+')';
  }
  document.getElementById('unit-now').textContent = u.name + ' (scale \u00b1' + scale.toFixed(3) + ')';
}
(function colourLoss(){
  let top = 1e-6; for(const x of D.loss) if(x!==null) top = Math.max(top, x);
  for(let i=0;i<N;i++){
    const a = D.loss[i]===null ? 0 : Math.min(1, D.loss[i]/top);
    lossSpans[i].style.backgroundColor = 'rgba(255,127,14,'+a.toFixed(3)+')';
  }
  document.getElementById('loss-scale').textContent = top.toFixed(3);
})();
// the unit picker: layer/direction, kind, unit
D.units.forEach(u => {
  u.name = 'layer ' + u.layer + (D.directions>1 ? ' dir ' + u.direction : '') + ' ' + u.kind + '[' + u.unit + ']'; });
const selGroup = document.getElementById('pick-layer'), selKind = document.getElementById('pick-kind'),
      selUnit = document.getElementById('pick-unit');
function options(sel, values, text){ sel.innerHTML=''; for(const v of values){ const o=document.createElement('option');
  o.value=v; o.textContent=text(v); sel.appendChild(o);} }
const groups = [...new Set(D.units.map(u => u.layer + ',' + u.direction))];
options(selGroup, groups, g => { const [l,d]=g.split(',');
  return 'layer ' + l + (D.directions>1 ? (d==='1'?' backward':' forward') : ''); });
function fillKinds(){ const g = selGroup.value;
  options(selKind, [...new Set(D.units.filter(u => u.layer+','+u.direction===g).map(u=>u.kind))], k=>k); fillUnits(); }
function fillUnits(){ const g = selGroup.value, k = selKind.value;
  const list = D.units.map((u,j)=>[u,j]).filter(([u]) => u.layer+','+u.direction===g && u.kind===k);
  options(selUnit, list.map(([,j])=>j),
          j => 'unit ' + D.units[j].unit + (D.units[j].best ? '  (' + D.units[j].best + ')' : ''));
  pick(); }
function pick(){ const u = D.units[+selUnit.value]; if(u) colourUnits(u); }
selGroup.onchange = fillKinds; selKind.onchange = fillUnits; selUnit.onchange = pick;
function showUnit(layer, direction, kind, unit){
  const j = D.units.findIndex(u => u.layer===layer && u.direction===direction && u.kind===kind && u.unit===unit);
  if(j<0) return;
  selGroup.value = layer + ',' + direction; fillKinds(); selKind.value = kind; fillUnits(); selUnit.value = j; pick();
  document.getElementById('units-section').scrollIntoView({behavior:'instant', block:'start'});
}
document.querySelectorAll('tr.found-unit').forEach(tr => tr.addEventListener('click', () =>
  showUnit(+tr.dataset.layer, +tr.dataset.direction, tr.dataset.kind, +tr.dataset.unit)));
fillKinds();
const first = D.found.find(f => f.units.length);  // start on the strongest unit of the first feature present
if(first){ const u = first.units[0]; showUnit(u.layer, u.direction, u.kind, u.unit); window.scrollTo(0,0); }
// gate saturation scatters
const NS = 'http://www.w3.org/2000/svg', S = 240, M = 30;
function el(name, attrs, parent){ const e = document.createElementNS(NS, name);
  for(const k in attrs) e.setAttribute(k, attrs[k]);
  if(parent) parent.appendChild(e); return e; }
const box = document.getElementById('scatters');
for(const g of D.saturation){
  const fig = document.createElement('figure');
  const svg = el('svg', {width:S+M+10, height:S+M+10, viewBox:'0 0 '+(S+M+10)+' '+(S+M+10), 'class':'scatter'});
  el('rect', {x:M, y:5, width:S, height:S, fill:'none', stroke:'#999'}, svg);
  el('line', {x1:M, y1:5, x2:M+S, y2:5+S, stroke:'#ddd'}, svg);  // left + right = 1
  const tx = el('text', {x:M+S/2, y:S+M+2, 'text-anchor':'middle', 'font-size':11}, svg);
  tx.textContent='left-saturated fraction';
  const ty = el('text', {x:10, y:5+S/2, 'text-anchor':'middle', 'font-size':11,
                         transform:'rotate(-90 10 '+(5+S/2)+')'}, svg);
  ty.textContent='right-saturated fraction';
  for(const [v,x,y,a] of [['0',M,S+18,'start'],['1',M+S,S+18,'end']]){
    const t=el('text',{x:x,y:y,'font-size':10,'text-anchor':a},svg); t.textContent=v; }
  for(let h=0; h<g.left.length; h++){
    const c = el('circle', {cx:M+g.left[h]*S, cy:5+S-g.right[h]*S, r:2.5, fill:'rgba(31,119,180,0.6)'}, svg);
    el('title', {}, c).textContent = g.gate + '[' + h + ']: left ' + fmt(g.left[h]) + ', right ' + fmt(g.right[h]);
  }
  fig.appendChild(svg);
  const cap = document.createElement('figcaption');
  cap.textContent = 'layer ' + g.layer + (D.directions>1 ? ' dir ' + g.direction : '') + ', gate ' + g.gate + ' (' +
    g.activation + ': left < ' + g.thresholds[0] + ', right > ' + g.thresholds[1] + ')';
  fig.appendChild(cap); box.appendChild(fig);
}
})();
"""


def _script_json(payload: dict) -> str:
    """JSON that is safe inside <script>: no '</' can close the element early."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")


def read_payload(page: str) -> dict:
    """The data embedded in an inspect.html (for tests and scripts)."""
    match = re.search(rf'<script type="application/json" id="{_DATA_ID}">(.*?)</script>', page, re.S)
    if match is None:
        raise ValueError("no embedded inspect data in this page")
    return json.loads(match.group(1))


def _header(h: dict) -> str:
    rows = [
        ("model", h["model"]),
        ("data", h["data"]),
        ("validation loss", h["val_loss"]),
        ("inspected", h["inspected"]),
        ("on this page", h["embedded"]),
    ]
    return "".join(f"<div class='meta'><b>{html.escape(k)}:</b> {html.escape(str(v))}</div>" for k, v in rows)


def _found_rows(found: list, descriptions: dict) -> str:
    rows = []
    for item in found:
        name = html.escape(descriptions.get(item["feature"], item["feature"]))
        if not item["units"]:
            rows.append(f"<tr><td>{name}</td><td colspan=3 class=note>not in this text</td></tr>")
            continue
        for rank, u in enumerate(item["units"]):
            where = f"layer {u['layer']}" + (f" dir {u['direction']}" if u["direction"] else "")
            rows.append(
                f"<tr class='found-unit' data-layer='{u['layer']}' data-direction='{u['direction']}' "
                f"data-kind='{html.escape(u['kind'])}' data-unit='{u['unit']}' title='show it on the text'>"
                f"<td>{name if rank == 0 else ''}</td><td>{where} {html.escape(u['kind'])}[{u['unit']}]</td>"
                f"<td>r = {u['r']:+.3f}</td><td class=note>{'strongest' if rank == 0 else ''}</td></tr>"
            )
    return "<table><tr><th>feature</th><th>unit</th><th>correlation</th><th></th></tr>" + "".join(rows) + "</table>"


def render_page(payload: dict) -> str:
    """The whole page as one string."""
    h = payload["header"]
    saturation_note = payload["saturation_note"]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>rnnlab inspect: {html.escape(h["run"])}</title>
<style>{CSS}</style></head><body>
<h1>What the units of {html.escape(h["run"])} learned</h1>
{_header(h)}
<h2 id="units-section">The text, coloured by one unit</h2>
<div><select id="pick-layer"></select><select id="pick-kind"></select><select id="pick-unit"></select>
<span id="unit-now" class="note"></span></div>
<p class="note">Red: positive, blue: negative, as a fraction of the unit's largest |value| on this text.
Hover a symbol: the model's top 5 guesses for the next symbol and the loss of this one.</p>
<div class="text" id="text-units"></div>
<h2>The text, coloured by surprisal</h2>
<p class="note">Orange: the loss -log p(symbol | what came before), in nats, up to <span id="loss-scale"></span>.</p>
<div class="text" id="text-loss"></div>
<h2>Units found automatically</h2>
<p class="note">For each text feature, the units whose activation correlates most with it (Pearson r over the
inspected symbols, all layers, {html.escape(", ".join(payload["correlated_kinds"]))}).
Click a row to see it on the text.</p>
{_found_rows(payload["found"], payload["feature_descriptions"])}
<h2>Gate saturation</h2>
<p class="note">{html.escape(saturation_note)}</p>
<div class="scatters" id="scatters"></div>
<div id="tip"></div>
<script type="application/json" id="{_DATA_ID}">{_script_json(payload)}</script>
<script>{JS}</script>
</body></html>
"""
