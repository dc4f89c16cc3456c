/* The nesting-depth bound of a YAML text, shared by the agent's config
 * (agent/config_yaml.c) and the web config (exporters/web_config.c). */
#ifndef ACCELMON_YAML_DEPTH_H
#define ACCELMON_YAML_DEPTH_H

#include <stddef.h>

/* One pass over libyaml's events of text (time linear in len, constant
 * stack), stopping at the first sequence or mapping that starts deeper than
 * max levels. 0: none is; 1: one is, starting at line *line (1-based);
 * 2: a YAML syntax error at line *line, libyaml's words in problem (the
 * caller may leave it to its own load to word); -ENOMEM. */
int yaml_depth_check(const char *text, size_t len, int max, unsigned long *line,
		     char *problem, size_t problem_len);

#endif
