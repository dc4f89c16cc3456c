/* The nesting-depth bound of a YAML text (agent/yaml_depth.h): libyaml's
 * loader recurses per level and its scanner spends time in proportion to the
 * flow depth on every token, so a hostile file is stopped here first. */
#include <errno.h>
#include <stdio.h>
#include <yaml.h>

#include "yaml_depth.h"

int yaml_depth_check(const char *text, size_t len, int max, unsigned long *line,
		     char *problem, size_t problem_len)
{
	yaml_parser_t ps;
	yaml_event_t ev;
	int depth = 0, rc = 0;

	*line = 0;
	if (problem_len)
		problem[0] = '\0';
	if (!yaml_parser_initialize(&ps))
		return -ENOMEM;
	yaml_parser_set_input_string(&ps, (const unsigned char *)(text ? text : ""),
				     text ? len : 0);
	for (;;) {
		yaml_event_type_t t;

		if (!yaml_parser_parse(&ps, &ev)) {
			if (ps.error == YAML_MEMORY_ERROR) {
				rc = -ENOMEM;
				break;
			}
			*line = (unsigned long)ps.problem_mark.line + 1;
			if (problem_len)
				snprintf(problem, problem_len, "%s",
					 ps.problem ? ps.problem : "YAML error");
			rc = 2;
			break;
		}
		t = ev.type;
		if (t == YAML_SEQUENCE_START_EVENT || t == YAML_MAPPING_START_EVENT) {
			if (++depth > max) {
				*line = (unsigned long)ev.start_mark.line + 1;
				rc = 1;
			}
		} else if (t == YAML_SEQUENCE_END_EVENT || t == YAML_MAPPING_END_EVENT)
			depth--;
		yaml_event_delete(&ev);
		if (rc || t == YAML_STREAM_END_EVENT)
			break;
	}
	yaml_parser_delete(&ps);
	return rc;
}
