echo "script {{ ds }} {{ params.p }}"
