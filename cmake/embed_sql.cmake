# Generate a C file holding every numbered migration of sql/<backend>/ as a
# string, so qforge carries its schema and needs no files at run time.
#   cmake -DSQL_DIR=... -DOUT=... -P embed_sql.cmake
file(GLOB sqlite_files ${SQL_DIR}/sqlite/[0-9][0-9][0-9]_*.sql)
file(GLOB pg_files ${SQL_DIR}/postgres/[0-9][0-9][0-9]_*.sql)
list(SORT sqlite_files)
list(SORT pg_files)

set(out "/* Generated from sql/ by cmake/embed_sql.cmake: do not edit. */\n")
string(APPEND out "#include \"migrations.h\"\n\n")

function(emit var files)
  set(body "")
  foreach(f ${files})
    get_filename_component(name ${f} NAME_WE)
    string(SUBSTRING ${name} 0 3 num)
    math(EXPR version "${num}")
    file(READ ${f} sql)
    # a C string literal: escape backslashes and quotes, one line per line
    string(REPLACE "\\" "\\\\" sql "${sql}")
    string(REPLACE "\"" "\\\"" sql "${sql}")
    string(REPLACE "\n" "\\n\"\n\t\t\"" sql "${sql}")
    string(APPEND body "\t{${version}, \"${name}\",\n\t\t\"${sql}\"},\n")
  endforeach()
  list(LENGTH files n)
  set(${var} "const qf__migration ${var}[] = {\n${body}\t{0, 0, 0},\n};\nconst int ${var}_count = ${n};\n\n" PARENT_SCOPE)
endfunction()

emit(qf__migrations_sqlite "${sqlite_files}")
string(APPEND out "${qf__migrations_sqlite}")
emit(qf__migrations_postgres "${pg_files}")
string(APPEND out "${qf__migrations_postgres}")
file(WRITE ${OUT}.tmp "${out}")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUT}.tmp)
