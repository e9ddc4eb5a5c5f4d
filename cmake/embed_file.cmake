# Generate a C file holding one file as a string:
#   cmake -DIN=file -DOUT=out.c -DNAME=symbol -P embed_file.cmake
# defines  const char NAME[]  and  const unsigned long NAME_len.
file(READ ${IN} text HEX)
string(LENGTH "${text}" hexlen)
math(EXPR len "${hexlen} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${text}")
set(out "/* Generated from ${IN} by cmake/embed_file.cmake: do not edit. */\n")
string(APPEND out "const char ${NAME}[] = {${bytes} 0};\nconst unsigned long ${NAME}_len = ${len};\n")
file(WRITE ${OUT}.tmp "${out}")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUT}.tmp)
