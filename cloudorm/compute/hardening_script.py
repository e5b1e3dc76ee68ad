"""The script that applies hardening on a node (POSIX sh, run as root): it reads the manifest of a staged directory,
installs the missing packages, checks every staged file that differs from the installed one with its own tool
(``sshd -t``, ``visudo -c``, ``nft -c``, ``fail2ban-client -t``, ``sysctl``, ``ssh-keygen -l``,
``systemd-analyze verify``), and only when all pass installs them (each atomically, by rename) and reloads only
what changed. A failed check installs nothing and names the file and the tool's words.

Its manifest (tab-separated lines, written by ``compute.hardening_render.manifest``)::

    package  NAME                                  a package that must be installed
    user     NAME                                  a login that must exist (created without a password)
    keys     NAME  STAGED                          public keys NAME's authorized_keys must hold (added if missing)
    group    NAME  GROUP                           NAME joins GROUP where the group exists (``docker``)
    file     STAGED  TARGET  MODE  CHECK  ACTION    a file to install as TARGET (root-owned, MODE)
    jail     NAME                                  a fail2ban jail that must be running afterwards
    expect   sshd  SETTING                          a line ``sshd -T`` must print once the sshd file is installed

It prints its report, one line per thing it did: ``package NAME``, ``user NAME``, ``group GROUP``, ``changed PATH``,
``reloaded SERVICE`` (``sysctl``, ``firewall``, ``fail2ban``, ``sshd``), ``started SERVICE`` or ``enabled UNIT``;
nothing when the node was up to date. It exits 3 with ``cloudorm-harden: ...`` on stderr when something failed.
"""

from __future__ import annotations

SCRIPT = r"""#!/bin/sh
# cloudorm: apply the hardening staged in "$1" (see cloudorm/compute/hardening_script.py). Run as root.
set -u
trap '' HUP PIPE  # a dropped connection (a lost response) does not stop it half way: it finishes, silently
umask 022
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH LC_ALL=C
tab=$(printf '\t')
say() { printf '%s\n' "$*"; }
die() { printf 'cloudorm-harden: %s\n' "$*" >&2; exit 3; }
said() { tail -n "${2:-4}" "$1" 2>/dev/null | tr '\n' ' ' | cut -c1-600; }

[ "$(id -u)" = 0 ] || die "must run as root"
stage=${1:?the staged directory}
[ -f "$stage/manifest" ] || die "no manifest in $stage"
work=$(mktemp -d) || die "mktemp -d failed"
trap 'rm -rf "$work"' EXIT
cp -R "$stage/." "$work/" || die "cannot copy $stage"
manifest=$work/manifest

lock=/run/cloudorm-harden.lock
[ -d /run ] || lock=/tmp/cloudorm-harden.lock
exec 9>"$lock"
if command -v flock >/dev/null 2>&1; then
  flock -w 300 9 || die "another hardening of this node is still running ($lock)"
fi
systemd=0
[ -d /run/systemd/system ] && systemd=1

# --- packages -----------------------------------------------------------------------------------------------------
installed() {
  if command -v dpkg-query >/dev/null 2>&1; then
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
  else
    rpm -q "$1" >/dev/null 2>&1
  fi
}
missing=
for p in $(awk -F'\t' '$1 == "package" {print $2}' "$manifest"); do
  installed "$p" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if command -v apt-get >/dev/null 2>&1; then
    if command -v cloud-init >/dev/null 2>&1; then cloud-init status --wait >/dev/null 2>&1 || true; fi
    apt_install() {
      DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef \
        -o Dpkg::Options::=--force-confold install --no-install-recommends $missing
    }
    apt_install >"$work/packages.log" 2>&1 || {
      DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300 update >>"$work/packages.log" 2>&1 &&
        apt_install >>"$work/packages.log" 2>&1
    } || die "installing$missing with apt-get failed: $(said "$work/packages.log")"
  elif command -v dnf >/dev/null 2>&1; then
    dnf -y -q install $missing >"$work/packages.log" 2>&1 \
      || die "installing$missing with dnf failed: $(said "$work/packages.log")"
  else
    die "$missing missing and no apt-get or dnf to install them (hardening supports Debian, Ubuntu, Fedora-like)"
  fi
  for p in $missing; do say "package $p"; done
fi

# --- check every file that differs, before anything is installed ------------------------------------------------------
same() {  # staged file, target, mode: the target has that content, that mode and is root's
  [ -f "$2" ] && cmp -s "$1" "$2" && [ "$(stat -c '%a %u %g' "$2")" = "${3#0} 0 0" ]
}
check() {  # check, staged file, target: 0 when the file's own tool accepts it (its words in $work/err)
  case $1 in
    sshd)
      printf 'Include %s\nInclude /etc/ssh/sshd_config\n' "$2" >"$work/sshd-check.conf"
      sshd -t -f "$work/sshd-check.conf" ;;
    sudoers) visudo -c -q -f "$2" ;;
    nft) nft -c -f "$2" ;;
    fail2ban)
      rm -rf "$work/fail2ban" && cp -R /etc/fail2ban "$work/fail2ban" &&
        cp "$2" "$work/fail2ban/jail.d/$(basename "$3")" && fail2ban-client -c "$work/fail2ban" -t ;;
    sysctl)
      bad=0
      for key in $(awk -F= '/^[ \t]*[a-z]/ {gsub(/[ \t]/, "", $1); print $1}' "$2"); do
        sysctl -n "$key" >/dev/null || bad=1
      done
      [ "$bad" = 0 ] ;;
    keys) ssh-keygen -l -f "$2" ;;
    unit) if command -v systemd-analyze >/dev/null 2>&1; then systemd-analyze verify "$2"; fi ;;
    *) echo "unknown check $1"; false ;;
  esac >"$work/err" 2>&1
}
tool() {
  case $1 in
    sshd) echo "sshd -t" ;; sudoers) echo "visudo -c" ;; nft) echo "nft -c" ;; fail2ban) echo "fail2ban-client -t" ;;
    keys) echo "ssh-keygen -l" ;; unit) echo "systemd-analyze verify" ;; *) echo "$1" ;;
  esac
}
awk -F'\t' '$1 == "file"' "$manifest" >"$work/files"
: >"$work/todo"
while IFS=$tab read -r _ name target mode kind action; do
  same "$work/$name" "$target" "$mode" && continue
  check "$kind" "$work/$name" "$target" || die "$target: $(tool "$kind") rejected it: $(said "$work/err" 6)"
  printf '%s\t%s\t%s\t%s\n' "$name" "$target" "$mode" "$action" >>"$work/todo"
done <"$work/files"
awk -F'\t' '$1 == "keys"' "$manifest" >"$work/keys"
while IFS=$tab read -r _ who name; do
  check keys "$work/$name" "" || die "public keys for $who: ssh-keygen -l rejected them: $(said "$work/err")"
done <"$work/keys"

# --- the admin user and its keys -----------------------------------------------------------------------------------
for who in $(awk -F'\t' '$1 == "user" {print $2}' "$manifest"); do
  if ! id -u "$who" >/dev/null 2>&1; then
    shell=/bin/sh
    [ -x /bin/bash ] && shell=/bin/bash
    useradd --create-home --shell "$shell" --user-group -p '*' "$who" >"$work/err" 2>&1 \
      || die "creating user $who failed: $(said "$work/err")"
    say "user $who"
  fi
done
while IFS=$tab read -r _ who name; do
  home=$(getent passwd "$who" | cut -d: -f6)
  group=$(id -gn "$who") || die "no user $who"
  [ -n "$home" ] && [ -d "$home" ] || die "user $who has no home directory"
  keys=$home/.ssh/authorized_keys
  install -d -m 700 -o "$who" -g "$group" "$home/.ssh" || die "cannot make $home/.ssh"
  [ -f "$keys" ] || install -m 600 -o "$who" -g "$group" /dev/null "$keys" || die "cannot make $keys"
  added=0
  while read -r kind blob _; do
    [ -n "$blob" ] || continue
    grep -qF -- "$kind $blob" "$keys" && continue
    if [ -s "$keys" ] && [ -n "$(tail -c 1 "$keys")" ]; then echo >>"$keys"; fi
    grep -F -- "$kind $blob" "$work/$name" >>"$keys"
    added=1
  done <"$work/$name"
  chown "$who:$group" "$keys" && chmod 600 "$keys" || die "cannot set the owner of $keys"
  [ "$added" = 1 ] && say "changed $keys"
done <"$work/keys"

awk -F'\t' '$1 == "group"' "$manifest" >"$work/groups"
while IFS=$tab read -r _ who group; do
  getent group "$group" >/dev/null 2>&1 || continue
  id -nG "$who" | tr ' ' '\n' | grep -qx -- "$group" && continue
  usermod -a -G "$group" "$who" >"$work/err" 2>&1 || die "adding $who to group $group failed: $(said "$work/err")"
  say "group $group"
done <"$work/groups"

# --- install (each file by rename, so a reader sees the old or the new one, whole) ------------------------------------
actions=" "
while IFS=$tab read -r name target mode action; do
  dir=$(dirname "$target")
  [ -d "$dir" ] || install -d -m 755 "$dir" || die "cannot make $dir"
  if [ -f "$target" ]; then cp -p "$target" "$work/$name.before"; fi
  tmp=$dir/.$(basename "$target").cloudorm-new
  install -m "$mode" -o 0 -g 0 "$work/$name" "$tmp" && mv -f "$tmp" "$target" \
    || { rm -f "$tmp"; die "installing $target failed"; }
  say "changed $target"
  actions="$actions$action "
done <"$work/todo"
changed() { case $actions in *" $1 "*) return 0 ;; esac; return 1; }
target_of() { awk -F'\t' -v a="$1" '$1 == "file" && $6 == a {print $3; exit}' "$manifest"; }

# --- load what changed (and start what should run but does not) ------------------------------------------------------
if changed sysctl; then
  sysctl -q -p "$(target_of sysctl)" >"$work/err" 2>&1 \
    || die "sysctl -p $(target_of sysctl) failed: $(said "$work/err")"
  say "reloaded sysctl"
fi
rules=$(target_of firewall)
if [ -n "$rules" ]; then
  if changed firewall || ! nft list table inet cloudorm >/dev/null 2>&1; then
    nft -f "$rules" >"$work/err" 2>&1 || die "nft -f $rules failed: $(said "$work/err")"
    say "reloaded firewall"
  fi
  if [ -n "$(target_of unit)" ] && [ "$systemd" = 1 ]; then
    changed unit && systemctl daemon-reload
    systemctl is-enabled -q cloudorm-firewall.service 2>/dev/null || {
      systemctl enable -q cloudorm-firewall.service >"$work/err" 2>&1 \
        || die "enabling cloudorm-firewall.service failed: $(said "$work/err")"
      say "enabled cloudorm-firewall.service"
    }
  fi
fi
jails=$(awk -F'\t' '$1 == "jail" {print $2}' "$manifest")
if [ -n "$jails" ]; then
  if [ "$systemd" = 1 ]; then
    systemctl is-enabled -q fail2ban.service 2>/dev/null || systemctl enable -q fail2ban.service >/dev/null 2>&1
  fi
  if fail2ban-client ping >/dev/null 2>&1; then
    if changed fail2ban; then
      fail2ban-client reload >"$work/err" 2>&1 || die "fail2ban-client reload failed: $(said "$work/err")"
      say "reloaded fail2ban"
    fi
  else
    if [ "$systemd" = 1 ]; then systemctl restart fail2ban.service
    elif command -v service >/dev/null 2>&1 && [ -x /etc/init.d/fail2ban ]; then service fail2ban restart
    else fail2ban-client -x start
    fi >"$work/err" 2>&1 || die "starting fail2ban failed: $(said "$work/err")"
    say "started fail2ban"
  fi
  for jail in $jails; do
    n=0
    until fail2ban-client status "$jail" >/dev/null 2>&1; do
      n=$((n + 1))
      [ "$n" -gt 50 ] && die "fail2ban runs no jail $jail: $(fail2ban-client status 2>&1 | tr '\n' ' ' | cut -c1-300) \
(see /var/log/fail2ban.log)"
      sleep 0.2
    done
  done
fi
sshd_file=$(target_of sshd)
if changed sshd; then
  sshd -T >"$work/effective" 2>"$work/err" || die "sshd -T failed: $(said "$work/err")"
  for setting in $(awk -F'\t' '$1 == "expect" && $2 == "sshd" {gsub(/ /, "=", $3); print $3}' "$manifest"); do
    if ! grep -qix -- "$(echo "$setting" | tr = ' ')" "$work/effective"; then
      name=$(awk -F'\t' '$1 == "file" && $6 == "sshd" {print $2}' "$manifest")
      if [ -f "$work/$name.before" ]; then mv -f "$work/$name.before" "$sshd_file"; else rm -f "$sshd_file"; fi
      got=$(grep -i "^${setting%%=*} " "$work/effective")
      die "$sshd_file: sshd does not apply it ($(echo "$setting" | tr = ' ') wanted, sshd -T says '$got': \
is /etc/ssh/sshd_config.d included first by /etc/ssh/sshd_config?); put back as it was"
    fi
  done
  if [ "$systemd" = 1 ]; then
    for unit in ssh.service sshd.service; do
      if systemctl is-active -q "$unit" 2>/dev/null; then
        systemctl reload "$unit" >"$work/err" 2>&1 || die "systemctl reload $unit failed: $(said "$work/err")"
        break
      fi
    done
  else
    pid=$(cat /run/sshd.pid 2>/dev/null || cat /var/run/sshd.pid 2>/dev/null)
    [ -n "$pid" ] && kill -HUP "$pid" 2>"$work/err" \
      || die "cannot signal sshd to reload (no /run/sshd.pid?): $(said "$work/err")"
  fi
  say "reloaded sshd"
fi
exit 0
"""
"""The apply script (see the module's docstring)."""

__all__ = ["SCRIPT"]
