# Inlined into an entry point after its settings (the ha repository host's): conf and stanza set,
# as_postgres and say defined.
create_stanza() {  # retried: the first attempt may come before Postgres (or a primary) answers
  until as_postgres pgbackrest --config="$conf" --stanza="$stanza" stanza-create; do
    say "stanza-create failed; retrying in 30 s"
    sleep 30
  done
}
first_full_backup() {  # only when the repository holds none
  if ! as_postgres pgbackrest --config="$conf" --stanza="$stanza" --output=json info | grep -q '"label"'; then
    say "the repository holds no backup: taking the first full backup now"
    as_postgres pgbackrest --config="$conf" --stanza="$stanza" --type=full backup \
      && say "the first full backup is done"
  fi
}
