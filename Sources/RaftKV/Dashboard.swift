/// The dashboard every node serves at `GET /`: one self-contained page (inline CSS and
/// JavaScript) that polls `/status` of every member and shows who leads, the terms, the
/// commit/applied/snapshot indexes, each follower's replication progress, and buttons that hand
/// leadership to a member.
public enum Dashboard {
  /// The page.
  public static let html = #"""
    <!doctype html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>raftkv dashboard</title>
    <style>
      :root { --bg:#0f1419; --panel:#182028; --line:#26313c; --text:#dde3ea; --dim:#8b98a5;
              --leader:#f5b942; --follower:#4fa3e0; --candidate:#c678dd; --learner:#56b6c2;
              --down:#e06c75; --ok:#7ec27e; }
      * { box-sizing: border-box; }
      body { margin:0; font:14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
             background:var(--bg); color:var(--text); }
      header { padding:18px 28px; border-bottom:1px solid var(--line); display:flex;
               align-items:baseline; gap:24px; flex-wrap:wrap; }
      header h1 { margin:0; font-size:20px; letter-spacing:.3px; }
      header .facts { color:var(--dim); display:flex; gap:20px; flex-wrap:wrap; }
      header .facts b { color:var(--text); font-weight:600; }
      main { padding:20px 28px; display:grid; gap:20px; }
      section { background:var(--panel); border:1px solid var(--line); border-radius:8px; padding:14px 18px; }
      section h2 { margin:0 0 10px; font-size:13px; text-transform:uppercase; letter-spacing:1px; color:var(--dim); }
      table { width:100%; border-collapse:collapse; font-variant-numeric:tabular-nums; }
      th, td { text-align:left; padding:7px 10px; border-bottom:1px solid var(--line); white-space:nowrap; }
      th { color:var(--dim); font-weight:500; font-size:12px; }
      td.num, th.num { text-align:right; }
      tr:last-child td { border-bottom:none; }
      .badge { display:inline-block; min-width:74px; text-align:center; padding:2px 8px; border-radius:10px;
               font-size:12px; font-weight:600; color:#111; }
      .leader { background:var(--leader); } .follower { background:var(--follower); }
      .candidate { background:var(--candidate); } .learner { background:var(--learner); }
      .down { background:var(--down); }
      .id { font-weight:600; font-size:15px; }
      a { color:var(--follower); text-decoration:none; }
      button { background:#2b3a48; color:var(--text); border:1px solid #3b4d5e; border-radius:5px;
               padding:4px 10px; cursor:pointer; font-size:12px; }
      button:hover:not(:disabled) { background:#35495b; }
      button:disabled { opacity:.35; cursor:default; }
      .bar { position:relative; height:16px; background:#0d1116; border-radius:4px; overflow:hidden; min-width:260px; }
      .bar > span { position:absolute; left:0; top:0; bottom:0; background:var(--ok); }
      .bar.behind > span { background:var(--leader); }
      .bar > em { position:absolute; right:6px; top:0; font-size:11px; font-style:normal; color:var(--text); line-height:16px; }
      #log { font:12px/1.5 ui-monospace, SFMono-Regular, Menlo, monospace; max-height:200px; overflow:auto;
             margin:0; padding:0; list-style:none; color:var(--dim); }
      #log li b { color:var(--text); font-weight:500; }
      .muted { color:var(--dim); }
    </style>
    </head>
    <body>
    <header>
      <h1>raftkv</h1>
      <div class="facts">
        <span>leader <b id="leader">–</b></span>
        <span>term <b id="term">–</b></span>
        <span>commit index <b id="commit">–</b></span>
        <span>members <b id="count">–</b></span>
        <span id="joint" hidden>joint: old <b id="joint-old">–</b> → new <b id="joint-new">–</b></span>
        <span class="muted" id="updated">connecting…</span>
      </div>
    </header>
    <main>
      <section>
        <h2>Members</h2>
        <table>
          <thead><tr><th>node</th><th>role</th><th class="num">term</th><th>leader</th>
            <th class="num">commit</th><th class="num">applied</th><th class="num">snapshot</th>
            <th class="num">last</th><th class="num">keys</th><th>http</th><th>raft</th><th></th></tr></thead>
          <tbody id="members"></tbody>
        </table>
      </section>
      <section>
        <h2>Replication (as the leader sees it)</h2>
        <table>
          <thead><tr><th>follower</th><th>state</th><th class="num">match</th><th class="num">next</th>
            <th class="num">in flight</th><th>progress to the leader's last index</th></tr></thead>
          <tbody id="followers"><tr><td colspan="6" class="muted">no leader</td></tr></tbody>
        </table>
      </section>
      <section>
        <h2>Events</h2>
        <ul id="log"></ul>
      </section>
    </main>
    <script>
    "use strict";
    const known = new Map();   // id -> {http, raft, voter}
    const last = new Map();    // id -> last status or null when unreachable
    let lastLeader = undefined;
    const $ = (id) => document.getElementById(id);
    const esc = (s) => String(s ?? "").replace(/[&<>"']/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;","\"":"&quot;","'":"&#39;"}[c]));

    function log(text) {
      const li = document.createElement("li");
      li.innerHTML = "<span>" + new Date().toLocaleTimeString() + "</span> <b>" + esc(text) + "</b>";
      $("log").prepend(li);
      while ($("log").children.length > 200) $("log").lastChild.remove();
    }

    async function fetchStatus(base) {
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), 1500);
      try {
        const response = await fetch(base + "/status", {signal: controller.signal, cache: "no-store"});
        if (!response.ok) throw new Error("HTTP " + response.status);
        return await response.json();
      } finally { clearTimeout(timer); }
    }

    function baseFor(id) {
      const member = known.get(id);
      if (member && member.http) return "http://" + member.http;
      return null;
    }

    async function poll() {
      try {
        const own = await fetchStatus("");
        for (const m of own.members) known.set(m.id, m);
        if (!known.get(own.id)?.http) known.set(own.id, {...(known.get(own.id) || {}), id: own.id, http: location.host});
        for (const id of [...known.keys()]) if (!own.members.some(m => m.id === id) && own.members.length) known.delete(id);
      } catch (e) { /* this node may be down: keep polling the members we know */ }
      const ids = [...known.keys()].sort();
      const results = await Promise.all(ids.map(async id => {
        const base = baseFor(id);
        if (!base) return [id, null];
        try { return [id, await fetchStatus(base)]; } catch (e) { return [id, null]; }
      }));
      for (const [id, status] of results) {
        const before = last.get(id);
        if (before !== undefined && (before === null) !== (status === null)) log(id + (status ? " is reachable again" : " is unreachable"));
        if (before && status && before.role !== status.role) log(id + " is now " + status.role + " (term " + status.term + ")");
        last.set(id, status);
      }
      render(ids);
      $("updated").textContent = "updated " + new Date().toLocaleTimeString();
    }

    function render(ids) {
      const statuses = ids.map(id => last.get(id)).filter(Boolean);
      const leaders = statuses.filter(s => s.role === "leader").sort((a, b) => b.term - a.term);
      const leader = leaders[0] || null;
      const term = Math.max(0, ...statuses.map(s => s.term));
      const commit = Math.max(0, ...statuses.map(s => s.commitIndex));
      $("leader").textContent = leader ? leader.id : "none";
      // A joint configuration, as the leader (or else any node) reports it.
      const joint = (leader && leader.joint) || (statuses.find(s => s.joint) || {}).joint;
      $("joint").hidden = !joint;
      if (joint) {
        $("joint-old").textContent = joint.old.join(", ");
        $("joint-new").textContent = joint.new.join(", ");
      }
      $("term").textContent = statuses.length ? term : "–";
      $("commit").textContent = statuses.length ? commit : "–";
      $("count").textContent = ids.length;
      const leaderID = leader ? leader.id : null;
      if (leaderID !== lastLeader) { log("leader: " + (leaderID || "none") + (leader ? " (term " + leader.term + ")" : "")); lastLeader = leaderID; }

      $("members").innerHTML = ids.map(id => {
        const s = last.get(id); const m = known.get(id) || {};
        const voter = m.voter !== false;
        if (!s) return "<tr><td class='id'>" + esc(id) + "</td><td><span class='badge down'>down</span></td>" +
          "<td colspan='7' class='muted'>no answer from " + esc(m.http || "an unknown address") + "</td><td>" +
          (m.http ? esc(m.http) : "") + "</td><td>" + esc(m.raft) + "</td><td></td></tr>";
        const canLead = leader && s.role !== "leader" && voter;
        return "<tr><td class='id'>" + esc(id) + "</td>" +
          "<td><span class='badge " + esc(s.role) + "'>" + esc(s.role) + "</span></td>" +
          "<td class='num'>" + s.term + "</td><td>" + esc(s.leader ?? "–") + "</td>" +
          "<td class='num'>" + s.commitIndex + "</td><td class='num'>" + s.appliedIndex + "</td>" +
          "<td class='num'>" + s.snapshotIndex + "</td><td class='num'>" + s.lastIndex + "</td>" +
          "<td class='num'>" + s.keys + "</td>" +
          "<td>" + (m.http ? "<a href='http://" + esc(m.http) + "/'>" + esc(m.http) + "</a>" : "–") + "</td>" +
          "<td class='muted'>" + esc(m.raft ?? "–") + "</td>" +
          "<td><button data-to='" + esc(id) + "' " + (canLead ? "" : "disabled") + ">make leader</button></td></tr>";
      }).join("");
      for (const button of document.querySelectorAll("button[data-to]")) button.onclick = () => transfer(button.dataset.to);

      if (!leader || !leader.followers) {
        $("followers").innerHTML = "<tr><td colspan='6' class='muted'>no leader</td></tr>";
        return;
      }
      const rows = Object.keys(leader.followers).sort().map(id => {
        const f = leader.followers[id];
        const pct = leader.lastIndex ? Math.min(100, 100 * f.matchIndex / leader.lastIndex) : 100;
        const behind = leader.lastIndex - f.matchIndex;
        return "<tr><td class='id'>" + esc(id) + "</td><td>" + esc(f.state ?? "") + "</td>" +
          "<td class='num'>" + f.matchIndex + "</td><td class='num'>" + f.nextIndex + "</td>" +
          "<td class='num'>" + (f.inflight ?? "") + "</td>" +
          "<td><div class='bar" + (behind > 0 ? " behind" : "") + "'><span style='width:" + pct.toFixed(1) + "%'></span>" +
          "<em>" + (behind > 0 ? behind + " behind" : "up to date") + "</em></div></td></tr>";
      });
      $("followers").innerHTML = rows.join("") || "<tr><td colspan='6' class='muted'>no followers</td></tr>";
    }

    async function transfer(to) {
      log("asking " + to + " to take over leadership…");
      try {
        const response = await fetch("/transfer-leadership", {method: "POST", body: JSON.stringify({to}),
          headers: {"Content-Type": "application/json"}});
        const body = await response.json().catch(() => ({}));
        log(response.ok ? "leadership moved to " + body.leader : "transfer failed: " + (body.error || response.status));
      } catch (e) { log("transfer failed: " + e); }
      poll();
    }

    poll();
    setInterval(poll, 1000);
    </script>
    </body>
    </html>
    """#
}
