echo "from searchpath {{ params.table }}"
