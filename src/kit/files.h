/* Contracts between the files service's pieces (files.c, files_http.c, tar.c). */
#ifndef HOODY_KIT_FILES_H
#define HOODY_KIT_FILES_H

#include <sys/stat.h>

#include "kit/kit.h"

int fs_path(const char *raw, char *out, size_t len);
char **dir_names(const char *dir, size_t *count);
void names_free(char **v);
void send_file(struct req *r, const char *path, bool attachment);
/* len bytes of fd from offset `from`, after a head announcing them. */
void send_span(struct req *r, int fd, long long from, long long len);
/* files_read.c: ?lines (rest only), ?hash/?sha256 and ?base64 of the file
 * at path; false when the request has none of them (nothing was answered). */
bool send_file_view(struct req *r, const char *path, bool rest);
int rm_tree(const char *path);
int copy_tree(const char *src, const char *dst, int depth);
int transfer(struct req *r, const char *src, const char *dst, bool copy, bool overwrite);
bool fs_resolve(struct req *r, const char *raw, char *out);
void send_listing(struct req *r, const char *dir, bool envelope);
void send_index_html(struct req *r, const char *dir);
bool write_body(struct req *r, const char *path, bool append, bool *created, long long *new_size);
void stat_json(struct buf *b, const char *path, const struct stat *lst);
void listing_json(struct buf *b, const char *dir, bool exists);
void send_errno(struct req *r, const char *what, const char *path);
bool mkdir_parents(const char *path);
/* tar.c: the tree at dir as a ustar stream (Connection: close). */
void send_tar(struct req *r, const char *dir);

#endif
